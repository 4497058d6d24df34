"""Dictionaries of patterns and their binding to rooms (upstream `Dictionary`, `Pattern`).

Imported by ``chatrooms.models``, so these are models of the ``chatrooms`` app. Writes go
through ``chatrooms.wordfilter.services``.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

# Limits from the upstream console help (docs/api.md, "Word filter").
MAX_CUSTOM_DICTIONARIES = 3
MAX_PATTERNS_PER_DICTIONARY = 1000
MAX_DICTIONARY_NAME_LENGTH = 29  # "under 30 characters"
MAX_DESCRIPTION_LENGTH = 500
MAX_PATTERN_LENGTH = 40


class MatchMode(models.TextChoices):
    """How a dictionary's patterns match a message (an extension: `match_mode`)."""

    EXACT = "MATCH_MODE_EXACT", "Whole message (upstream)"
    WORD = "MATCH_MODE_WORD", "Whole word"
    FUZZY = "MATCH_MODE_FUZZY", "Whole word, look-alikes and spacing"


class Dictionary(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=MAX_DICTIONARY_NAME_LENGTH)
    description = models.CharField(max_length=MAX_DESCRIPTION_LENGTH, blank=True)
    default = models.BooleanField(
        default=False, help_text="A built-in dictionary: read-only, available to every room."
    )
    language = models.CharField(
        max_length=8, blank=True, help_text="A built-in dictionary's language (en, ja, zh)."
    )
    match_mode = models.CharField(max_length=24, choices=MatchMode.choices, default=MatchMode.EXACT)
    version = models.BigIntegerField(
        default=0,
        editable=False,
        help_text="Bumped by every change to the patterns or the match mode: names the "
        "compiled matchers built from it (chatrooms.wordfilter.matcher).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "dictionaries"
        ordering = ["-default", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["language"],
                condition=Q(default=True),
                name="chatrooms_dictionary_one_builtin_per_language",
            ),
            models.CheckConstraint(
                condition=Q(match_mode__in=MatchMode.values),
                name="chatrooms_dictionary_match_mode_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Pattern(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dictionary = models.ForeignKey(Dictionary, on_delete=models.CASCADE, related_name="patterns")
    text = models.CharField(max_length=MAX_PATTERN_LENGTH)
    key = models.CharField(
        max_length=4 * MAX_PATTERN_LENGTH,
        editable=False,
        help_text="The text case-folded: unique in its dictionary.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dictionary", "key"], name="chatrooms_pattern_unique_in_dictionary"
            ),
        ]
        indexes = [
            models.Index(
                fields=["dictionary", "created_at", "id"], name="chatrooms_pattern_page_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.text


class ChatroomDictionary(models.Model):
    """A dictionary enabled in a room (no row: disabled)."""

    room = models.ForeignKey("chatrooms.Chatroom", on_delete=models.CASCADE, related_name="+")
    dictionary = models.ForeignKey(Dictionary, on_delete=models.CASCADE, related_name="rooms")
    enabled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "room dictionary"
        constraints = [
            models.UniqueConstraint(
                fields=["room", "dictionary"], name="chatrooms_chatroomdictionary_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dictionary_id} in {self.room_id}"
