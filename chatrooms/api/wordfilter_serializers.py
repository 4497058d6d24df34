"""Request and response shapes of the word-filter operations (upstream sections 3.8 and
3.9; docs/api.md "Word filter"). Input serializers check JSON types only; the limits
are the services' (chatrooms.wordfilter.services), so every path reports them alike."""

from rest_framework import serializers

from chatrooms.api.serializers import (
    StrictBooleanField,
    StrictCharField,
    StrictUUIDField,
    format_timestamp,
)
from chatrooms.wordfilter.models import MAX_PATTERNS_PER_DICTIONARY, Dictionary, MatchMode, Pattern

PATTERN_ACTION_TAGGING = "PATTERN_ACTION_TAGGING"
# Long enough for any valid value; the services say what is wrong with a long one.
TEXT_INPUT_MAX = 1000


def render_dictionary(dictionary: Dictionary) -> dict:
    return {
        "id": str(dictionary.pk),
        "name": dictionary.name,
        "description": dictionary.description,
        "default": dictionary.default,
        "pattern_count": (
            dictionary.pattern_count
            if hasattr(dictionary, "pattern_count")
            else dictionary.patterns.count()
        ),
        "created_at": format_timestamp(dictionary.created_at),
        "updated_at": format_timestamp(dictionary.updated_at),
        "match_mode": dictionary.match_mode,
    }


def render_pattern(pattern: Pattern) -> dict:
    return {
        "id": str(pattern.pk),
        "text": pattern.text,
        "action": PATTERN_ACTION_TAGGING,
        "pattern_action": PATTERN_ACTION_TAGGING,
    }


# --- Input --------------------------------------------------------------------------


class CreateDictionaryInput(serializers.Serializer):
    name = StrictCharField(
        max_length=TEXT_INPUT_MAX, allow_blank=True, help_text="Required; under 30 characters."
    )
    description = StrictCharField(
        max_length=TEXT_INPUT_MAX, required=False, allow_blank=True, help_text="Optional."
    )
    match_mode = serializers.ChoiceField(
        choices=MatchMode.choices,
        required=False,
        help_text="Extension: how the patterns match (default MATCH_MODE_EXACT, upstream's "
        "whole-message match). See docs/api.md.",
    )


class UpdateDictionaryInput(serializers.Serializer):
    name = StrictCharField(
        max_length=TEXT_INPUT_MAX, required=False, allow_blank=True, help_text="Omit to keep."
    )
    description = StrictCharField(
        max_length=TEXT_INPUT_MAX, required=False, allow_blank=True, help_text="Omit to keep."
    )
    match_mode = serializers.ChoiceField(
        choices=MatchMode.choices,
        required=False,
        help_text="Extension: omit to keep; the one field a built-in dictionary lets change.",
    )


class PatternInput(serializers.Serializer):
    text = StrictCharField(
        max_length=TEXT_INPUT_MAX,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Required. At most 40 characters: letters, digits, '-', '_', single spaces.",
    )


class PatternsInput(serializers.Serializer):
    texts = serializers.ListField(
        child=StrictCharField(max_length=TEXT_INPUT_MAX, allow_blank=True, trim_whitespace=False),
        max_length=MAX_PATTERNS_PER_DICTIONARY + 1,
        help_text="Required. Added all or none.",
    )


class EmptyInput(serializers.Serializer):
    """`{}` (anything else in the body is ignored)."""


class HttpBodyInput(serializers.Serializer):
    """`google.api.HttpBody` as JSON (the raw `text/csv` body is accepted as well)."""

    content_type = StrictCharField(required=False, allow_blank=True, max_length=200)
    data = StrictCharField(
        help_text="The CSV file, base64.", allow_blank=True, trim_whitespace=False
    )
    extensions = serializers.ListField(child=serializers.DictField(), required=False)


class BatchUpdateRoomDictionariesInput(serializers.Serializer):
    ids = serializers.ListField(child=StrictUUIDField(), max_length=100, help_text="Required.")
    enabled = StrictBooleanField(help_text="Required.")


class PatternPageQuery(serializers.Serializer):
    current_page = serializers.IntegerField(
        required=False, min_value=1, max_value=1_000_000, help_text="Default 1."
    )
    items_per_page = serializers.IntegerField(
        required=False, min_value=1, help_text="Default 10; values over 100 are read as 100."
    )


# --- Output ---------------------------------------------------------------------------


class DictionaryTokenOutput(serializers.Serializer):
    token = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds.")


class DictionaryOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    default = serializers.BooleanField(help_text="A built-in dictionary: read-only.")
    pattern_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    match_mode = serializers.ChoiceField(
        choices=MatchMode.choices, help_text="Extension; see docs/api.md."
    )


class DictionaryEnvelopeOutput(serializers.Serializer):
    dictionary = DictionaryOutput()


class DictionariesPageOutput(serializers.Serializer):
    dictionaries = DictionaryOutput(many=True)
    next_page_token = serializers.CharField(help_text="Empty on the last page.")


class PatternOutput(serializers.Serializer):
    id = serializers.CharField()
    text = serializers.CharField()
    action = serializers.CharField(
        help_text="Deprecated upstream; always `PATTERN_ACTION_TAGGING`."
    )
    pattern_action = serializers.CharField(help_text="Always `PATTERN_ACTION_TAGGING`.")


class PatternEnvelopeOutput(serializers.Serializer):
    pattern = PatternOutput()


class PatternsOutput(serializers.Serializer):
    patterns = PatternOutput(many=True)


class PaginationOutput(serializers.Serializer):
    items_per_page = serializers.IntegerField()
    current_page = serializers.IntegerField()
    total_items = serializers.IntegerField()


class PatternsPageOutput(serializers.Serializer):
    patterns = PatternOutput(many=True)
    pagination = PaginationOutput()


class UriOutput(serializers.Serializer):
    uri = serializers.CharField(help_text="A signed link to the CSV, valid for an hour.")


class RoomDictionaryOutput(serializers.Serializer):
    dictionary = DictionaryOutput()
    enabled = serializers.BooleanField()


class RoomDictionariesPageOutput(serializers.Serializer):
    results = RoomDictionaryOutput(many=True)
    next_page_token = serializers.CharField(help_text="Empty on the last page.")


class RoomDictionariesOutput(serializers.Serializer):
    results = RoomDictionaryOutput(many=True)
