# ruff: noqa: RUF001, RUF002 (the look-alike table is made of look-alikes)
"""Matching message text against the patterns of a room's enabled dictionaries.

Three modes, chosen per dictionary (``Dictionary.match_mode``, docs/api.md "Word filter"):

``MATCH_MODE_EXACT`` (upstream, the default)
    The whole message, trimmed and case-folded, equals the case-folded pattern.
``MATCH_MODE_WORD``
    The pattern is a whole word (or run of words) inside the message, after NFKC and
    case folding of both; every run of characters that are not letters or digits counts
    as one space (``bad-word``, ``bad_word`` and ``bad word`` are the same). A pattern
    with CJK characters matches as a substring (CJK has no spaces between words).
``MATCH_MODE_FUZZY``
    ``WORD``, plus: Latin diacritics dropped (``bád``), Cyrillic and Greek look-alikes
    read as Latin (Cyrillic ``а`` for ``a``), invisible characters and combining marks
    ignored, leetspeak in the message (``0 1 3 4 @`` stand for a vowel, ``5 $`` for
    ``s``, ``7`` for ``t``, ``8`` for ``b``, ``9`` for ``g``: ``f4ck``, ``sh1t``), and
    letters spaced out or dotted (``b a d``, ``b.a.d``: a run of two or more
    one-character words is read as one word). A digit in a pattern matches only itself.

A room's enabled set compiles into one ``RoomMatcher``: a dict for the exact patterns
and one Aho-Corasick automaton (pyahocorasick) for each extended mode in use. Compiled
matchers are kept per process, keyed by the ``(id, version, mode)`` of each enabled
dictionary: any change to a dictionary bumps its version, so a stale matcher is never
used and is rebuilt only when the set or one of its dictionaries changed.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

EXACT = "MATCH_MODE_EXACT"
WORD = "MATCH_MODE_WORD"
FUZZY = "MATCH_MODE_FUZZY"

_SEPARATORS = re.compile(r"[\W_]+")
_CJK = re.compile(
    "[\u3040-\u30ff\u3100-\u312f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]"
)
# Characters that show nothing: deleted before matching (a zero-width space inside a
# word must not split it).
_INVISIBLE = dict.fromkeys(
    map(ord, "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff")
)


def _fuzzy_table() -> dict[int, int | None]:
    table: dict[int, int | None] = dict(_INVISIBLE)
    # Latin letters with diacritics -> the bare letter (only when it is one ASCII letter).
    for code in range(0xC0, 0x250):
        base = unicodedata.normalize("NFD", chr(code))[0]
        if base != chr(code) and base.isascii() and base.isalpha():
            table[code] = ord(base.lower())
    for source, target in {
        "ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "ŀ": "l", "ƀ": "b", "ɨ": "i",
    }.items():  # fmt: skip
        table[ord(source)] = ord(target)
    # Combining marks (Zalgo text, stray accents): ignored.
    for start, end in ((0x300, 0x370), (0x1AB0, 0x1B00), (0x1DC0, 0x1E00), (0x20D0, 0x2100)):
        for code in range(start, end):
            table[code] = None
    for code in range(0xFE20, 0xFE30):
        table[code] = None
    # Look-alikes (after case folding): Cyrillic and Greek letters drawn like Latin ones.
    lookalikes = {
        "а": "a", "б": "b", "в": "b", "е": "e", "ё": "e", "і": "i", "ї": "i",
        "ј": "j", "к": "k", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "ѕ": "s", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w",
        "ӏ": "l", "ɡ": "g", "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i",
        "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w",
        "ς": "s",
    }  # fmt: skip
    for source, target in lookalikes.items():
        table[ord(source)] = ord(target)
    # Symbols used as letters: kept as the digit that means the same (see _LEET).
    table[ord("@")] = ord("4")
    table[ord("$")] = ord("5")
    return table


_FUZZY_TABLE = _fuzzy_table()
_VOWELS = frozenset("aeiouy")
# A leetspeak character in a message stands for these letters of a pattern.
_LEET = {
    "0": frozenset("o") | _VOWELS,
    "1": frozenset("il") | _VOWELS,
    "3": frozenset("e") | _VOWELS,
    "4": frozenset("a") | _VOWELS,
    "5": frozenset("s"),
    "7": frozenset("t"),
    "8": frozenset("b"),
    "9": frozenset("g"),
}
# The automaton key of a fuzzy form: vowels and vowel-like digits collapse to "*", the
# other leet digits to their letter; a candidate is then checked letter by letter.
_SKELETON = str.maketrans(
    {**dict.fromkeys("aeiouy0134", "*"), "5": "s", "7": "t", "8": "b", "9": "g"}
)


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def exact_form(text: str) -> str:
    return text.strip().casefold()


def word_form(text: str) -> str:
    """NFKC, case folded, invisible characters deleted, separators as single spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_INVISIBLE)
    return _SEPARATORS.sub(" ", folded).strip()


def fuzzy_form(text: str) -> str:
    """``word_form`` with look-alikes and diacritics folded, leet symbols as digits, and
    runs of one-character words joined (``b a d`` -> ``bad``)."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_FUZZY_TABLE)
    tokens = _SEPARATORS.split(folded)
    if not any(len(token) == 1 for token in tokens):
        return " ".join(token for token in tokens if token)
    words: list[str] = []
    run: list[str] = []
    for token in tokens:
        if len(token) == 1:
            run.append(token)
            continue
        if run:
            words.append("".join(run)) if len(run) > 1 else words.append(run[0])
            run = []
        if token:
            words.append(token)
    if run:
        words.append("".join(run)) if len(run) > 1 else words.append(run[0])
    return " ".join(words)


def _fuzzy_equal(pattern: str, found: str) -> bool:
    """A candidate of the skeleton automaton, checked: each character of the message
    is the pattern's, or a leet character that can stand for it."""
    for want, got in zip(pattern, found, strict=True):
        if want != got and want not in _LEET.get(got, ()):
            return False
    return True


@dataclass(frozen=True)
class Hit:
    """What matched: upstream's ``filter_hit_result`` plus the mode (for the test box)."""

    pattern_id: str
    pattern_text: str
    dictionary_id: str
    dictionary_name: str
    match_mode: str

    def as_result(self) -> dict:
        """The ``filter_hit_result`` of a filtered ``text_message``."""
        return {
            "pattern_id": self.pattern_id,
            "pattern_text": self.pattern_text,
            "dictionary_id": self.dictionary_id,
            "dictionary_name": self.dictionary_name,
        }


@dataclass(frozen=True)
class PatternRow:
    """One pattern as the matcher needs it."""

    id: str
    text: str
    dictionary_id: str
    dictionary_name: str
    match_mode: str


class RoomMatcher:
    """The compiled patterns of a set of dictionaries (given in priority order).

    ``match`` returns the first hit: an exact one, else the one that starts earliest in
    the message (ties: the earlier dictionary, then the earlier pattern).

    In the automata a whole-word pattern is keyed with a space on each side and the
    message is searched with a space on each side, so only whole-word occurrences are
    found at all (``class`` never reports ``ass``); a CJK pattern is keyed bare and
    found anywhere. The fuzzy automaton is keyed by the skeleton (vowels and vowel-like
    digits as ``*``), and each candidate is checked letter by letter.
    """

    def __init__(self, rows: Iterable[PatternRow]):
        self.exact: dict[str, Hit] = {}
        self.size = 0
        word: dict[str, list] = {}
        fuzzy: dict[str, list] = {}
        for rank, row in enumerate(rows):
            hit = Hit(row.id, row.text, row.dictionary_id, row.dictionary_name, row.match_mode)
            self.size += 1
            if row.match_mode == EXACT:
                self.exact.setdefault(exact_form(row.text), hit)
                continue
            form = word_form(row.text) if row.match_mode == WORD else fuzzy_form(row.text)
            if not form:
                continue
            if not has_cjk(form):
                form = f" {form} "
            if row.match_mode == WORD:
                word.setdefault(form, []).append((rank, len(form), form, hit))
            else:
                key = form.translate(_SKELETON)
                fuzzy.setdefault(key, []).append((rank, len(form), form, hit))
        self.word = _automaton(word)
        self.fuzzy = _automaton(fuzzy)

    def match(self, text: str) -> Hit | None:
        if self.exact:
            hit = self.exact.get(exact_form(text))
            if hit is not None:
                return hit
        best: tuple[int, int, Hit] | None = None
        if self.word is not None:
            best = _search(self.word, word_form(text), best, fuzzy=False)
        if self.fuzzy is not None:
            best = _search(self.fuzzy, fuzzy_form(text), best, fuzzy=True)
        return best[2] if best else None


def _automaton(entries: dict[str, list]) -> ahocorasick.Automaton | None:
    if not entries:
        return None
    automaton = ahocorasick.Automaton()
    for key, values in entries.items():
        automaton.add_word(key, tuple(values))
    automaton.make_automaton()
    return automaton


def _search(automaton, form: str, best, *, fuzzy: bool):
    if not form:
        return best
    padded = f" {form} "
    key = padded.translate(_SKELETON) if fuzzy else padded
    for end, candidates in automaton.iter(key):
        for rank, length, pattern, hit in candidates:
            start = end - length + 1
            if best is not None and (start, rank) >= best[:2]:
                continue
            if fuzzy and not _fuzzy_equal(pattern, padded[start : end + 1]):
                continue
            best = (start, rank, hit)
    return best


# --- The per-process cache ---------------------------------------------------------------

CACHE_SIZE = 64
_cache: OrderedDict[tuple, RoomMatcher] = OrderedDict()
_cache_lock = threading.Lock()
builds = 0  # how many matchers this process compiled (tests, metrics)


def cached(key: tuple, build) -> RoomMatcher:
    """The matcher for ``key`` (the enabled dictionaries' ids, versions and modes),
    compiled by ``build()`` on a miss; the least recently used one is dropped past
    ``CACHE_SIZE``."""
    global builds
    with _cache_lock:
        matcher = _cache.get(key)
        if matcher is not None:
            _cache.move_to_end(key)
            return matcher
    matcher = build()
    with _cache_lock:
        builds += 1
        _cache[key] = matcher
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return matcher


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


# --- Pattern rules -------------------------------------------------------------------

# Letters and digits of any script, "-" and "_", words separated by single spaces.
PATTERN_RE = re.compile(r"[\w-]+(?: [\w-]+)*")
_HAS_ALNUM = re.compile(r"[^\W_]")


def pattern_problem(text: str, max_length: int) -> str | None:
    """Why ``text`` (already stripped) is not a valid pattern, or None."""
    if not text:
        return "A pattern cannot be empty."
    if len(text) > max_length:
        return f"A pattern is at most {max_length} characters."
    if not PATTERN_RE.fullmatch(text) or not _HAS_ALNUM.search(text):
        return (
            "A pattern holds letters and digits, '-' and '_' (the only symbols allowed), "
            "and single spaces between words."
        )
    return None


def clean_builtin(line: str, max_length: int) -> str | None:
    """A line of a built-in word list adapted to the pattern rules, or None to leave it
    out (chatrooms/wordfilter/data/NOTICE.md)."""
    text = unicodedata.normalize("NFKC", line)
    text = re.sub(r"[^\w\- ]", " ", text)
    text = " ".join(text.split())
    if pattern_problem(text, max_length) is not None:
        return None
    return text
