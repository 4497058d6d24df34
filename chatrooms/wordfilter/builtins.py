"""The three built-in dictionaries (``default: true``): English, Japanese and Chinese.

Their patterns come from the word lists in ``data/`` (LDNOOBW, CC BY 4.0: see
``data/NOTICE.md``), adapted to the pattern rules by ``matcher.clean_builtin``. Loaded
by migration ``0017_word_filter``; ``install`` takes the model classes so the migration
can pass its historical ones.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from chatrooms.wordfilter import matcher

DATA = Path(__file__).resolve().parent / "data"
MAX_PATTERN_LENGTH = 40
BUILTINS = (
    ("en", "English", "Built-in English word list (LDNOOBW, CC BY 4.0)."),
    ("ja", "Japanese", "Built-in Japanese word list (LDNOOBW, CC BY 4.0)."),
    ("zh", "Chinese", "Built-in Chinese word list (LDNOOBW, CC BY 4.0)."),
)


def builtin_patterns(language: str) -> list[str]:
    """The list's lines as patterns, in file order, each kept once (case-insensitively)."""
    patterns, seen = [], set()
    text = (DATA / f"{language}.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        pattern = matcher.clean_builtin(line, MAX_PATTERN_LENGTH)
        if pattern is None or pattern.casefold() in seen:
            continue
        seen.add(pattern.casefold())
        patterns.append(pattern)
    return patterns


def install(Dictionary, Pattern) -> None:
    """Create the built-in dictionaries that do not exist yet, with their patterns."""
    for language, name, description in BUILTINS:
        if Dictionary.objects.filter(default=True, language=language).exists():
            continue
        dictionary = Dictionary.objects.create(
            name=name, description=description, default=True, language=language
        )
        start = dictionary.created_at
        Pattern.objects.bulk_create(
            Pattern(
                dictionary=dictionary,
                text=text,
                key=text.casefold(),
                created_at=start + timedelta(microseconds=index),
                updated_at=start,
            )
            for index, text in enumerate(builtin_patterns(language))
        )
