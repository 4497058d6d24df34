#!/usr/bin/env python3
"""What the word filter adds to each message: ``RoomMatcher.match`` timed per message,
with all six dictionaries of a room enabled.

    .venv/bin/python bench/word_filter.py --rounds 5 -n 20000

The dictionaries: the three built-in word lists (chatrooms/wordfilter/data, ~900
patterns) and three custom ones of 1,000 generated words each (the limit): ~3,900
patterns; and, as a stress case, six of 1,000 each (6,000 patterns). Each set is timed
with every dictionary in one mode (EXACT, upstream's; WORD; FUZZY) and mixed (the
built-ins EXACT, the custom ones WORD, WORD and FUZZY). Messages are generated chat
lines of 1 to 30 words (English-like, a fifth of them with CJK), about 2% of them
holding a pattern. No database: the matcher is what a send pays per message; the one
query per batch that finds the room's enabled dictionaries is counted in
tests/chatrooms/test_query_counts.py. Also prints the build time of each matcher
(paid once per process and set, then cached).

Prints, per scenario and round, the median, p90 and p99 in µs per message.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatrooms.wordfilter import builtins, matcher  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("-n", type=int, default=20000, help="messages per round")
parser.add_argument("--rounds", type=int, default=5, help="rounds per scenario")
parser.add_argument("--seed", type=int, default=11)
args = parser.parse_args()

rng = random.Random(args.seed)
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "sh", "ch", "st"]
CJK = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坐集编宝谈府拉黑且随格尽剑讲布杀微怕母调局根曾准团段终乐切级克精哪官示冷域读"  # noqa: E501


def word(low: int = 1, high: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(low, high)))


def custom_words(count: int, tag: str) -> list[str]:
    """Distinct generated patterns: words (longer than the messages' usual ones), some
    two words long, some with digits, some CJK."""
    out, seen = [], set()
    while len(out) < count:
        text = word(3, 5)
        roll = rng.random()
        if roll < 0.2:
            text = f"{text} {word(3, 5)}"
        elif roll < 0.3:
            text = f"{text}{rng.randint(0, 99)}"
        elif roll < 0.35:
            text = "".join(rng.choice(CJK) for _ in range(rng.randint(2, 4)))
        text = text[:40]
        if text.casefold() not in seen:
            seen.add(text.casefold())
            out.append(text)
    return out


def dictionaries(stress: bool) -> list[tuple[str, list[str]]]:
    sets = []
    for language, name, _ in builtins.BUILTINS:
        words = builtins.builtin_patterns(language)
        if stress:
            words = (words + custom_words(1000, name))[:1000]
        sets.append((name, words))
    for i in range(3):
        sets.append((f"Custom {i + 1}", custom_words(1000, f"c{i}")))
    return sets


def rows(sets, modes) -> list[matcher.PatternRow]:
    out = []
    for (name, words), mode in zip(sets, modes, strict=True):
        out += [matcher.PatternRow(f"{name}-{i}", w, name, name, mode) for i, w in enumerate(words)]
    return out


def messages(sets, n: int) -> list[str]:
    every = [w for _, words in sets for w in words]
    out = []
    for _ in range(n):
        length = min(30, max(1, int(rng.expovariate(1 / 8))))
        words = [word() for _ in range(length)]
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words) + 1), "".join(rng.choice(CJK) for _ in range(6)))
        if rng.random() < 0.02:
            words.insert(rng.randrange(len(words) + 1), rng.choice(every))
        text = " ".join(words)
        if rng.random() < 0.3:
            text = text.capitalize() + rng.choice(["!", "?", " :)", "...", ""])
        out.append(text)
    return out


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def scenario(label: str, sets, modes) -> None:
    started = time.perf_counter()
    compiled = matcher.RoomMatcher(rows(sets, modes))
    built_ms = (time.perf_counter() - started) * 1e3
    corpus = messages(sets, args.n)
    for text in corpus[:200]:  # warm
        compiled.match(text)
    print(f"{label}: {compiled.size} patterns, built in {built_ms:.0f} ms")
    medians = []
    for round_ in range(args.rounds):
        timings = []
        hits = 0
        clock = time.perf_counter_ns
        for text in corpus:
            start = clock()
            hit = compiled.match(text)
            timings.append((clock() - start) / 1000)
            hits += hit is not None
        median = statistics.median(timings)
        medians.append(median)
        print(
            f"  round {round_ + 1}: median {median:.1f} µs, p90 {percentile(timings, 0.9):.1f}, "
            f"p99 {percentile(timings, 0.99):.1f}, hits {hits / len(corpus):.1%}"
        )
    print(
        f"  median of rounds {statistics.median(medians):.1f} µs "
        f"(spread {min(medians):.1f}..{max(medians):.1f})"
    )


E, W, F = matcher.EXACT, matcher.WORD, matcher.FUZZY
for stress in (False, True):
    sets = dictionaries(stress)
    label = "six of 1,000 (stress)" if stress else "3 built-ins + 3 x 1,000"
    scenario(f"{label}, all EXACT", sets, [E] * 6)
    scenario(f"{label}, all WORD", sets, [W] * 6)
    scenario(f"{label}, all FUZZY", sets, [F] * 6)
    scenario(f"{label}, mixed", sets, [E, E, E, W, W, F])
