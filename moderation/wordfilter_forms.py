"""Input of the word filter's console pages (moderation/views/wordfilter.py).

Forms only read and check the shape of the input; the word filter's services decide
what is allowed (limits, built-ins read-only, duplicates) and say why not.
"""

import re

from django import forms

from chatrooms.wordfilter.csvfiles import UPLOAD_MAX_BYTES
from chatrooms.wordfilter.models import (
    MAX_DESCRIPTION_LENGTH,
    MAX_DICTIONARY_NAME_LENGTH,
    MAX_PATTERNS_PER_DICTIONARY,
    MatchMode,
)
from moderation.forms import on_off_field

# What a test message may be: as long as a chat message can reasonably get.
MAX_TEST_TEXT_LENGTH = 1000


def split_patterns(text: str) -> list[str]:
    """Patterns typed one per line or separated by commas, in order, blanks dropped."""
    return [part.strip() for part in re.split(r"[\r\n,]+", text) if part.strip()]


class FilterTestForm(forms.Form):
    text = forms.CharField(
        label="Message",
        max_length=MAX_TEST_TEXT_LENGTH,
        strip=False,
        help_text="Type a message to see whether it would be held for review. Nothing is sent.",
    )

    def clean_text(self):
        text = self.cleaned_data["text"]
        if not text.strip():
            raise forms.ValidationError("Type a message to test.")
        return text


class DictionaryForm(forms.Form):
    """Create a custom dictionary, or change one (a built-in takes only ``match_mode``)."""

    name = forms.CharField(
        label="Name",
        max_length=MAX_DICTIONARY_NAME_LENGTH,
        required=False,
        help_text=f"At most {MAX_DICTIONARY_NAME_LENGTH} characters.",
    )
    description = forms.CharField(
        label="Description", max_length=MAX_DESCRIPTION_LENGTH, required=False
    )
    match_mode = forms.ChoiceField(
        label="Match mode",
        choices=MatchMode.choices,
        initial=MatchMode.EXACT,
        help_text="Whole message is how the upstream service matches (the default). Whole "
        "word finds a pattern inside a longer message; look-alikes also catches f4ck, "
        "b.a.d and Cyrillic letters drawn like Latin ones.",
    )


class PatternsAddForm(forms.Form):
    patterns = forms.CharField(
        label="Patterns",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, or separated by commas. At most 40 characters each; letters, "
        "digits, spaces, - and _ only.",
    )

    def clean_patterns(self):
        texts = split_patterns(self.cleaned_data["patterns"])
        if not texts:
            raise forms.ValidationError("Type at least one pattern.")
        if len(texts) > MAX_PATTERNS_PER_DICTIONARY:
            raise forms.ValidationError(
                f"A dictionary holds at most {MAX_PATTERNS_PER_DICTIONARY} patterns."
            )
        return texts


class PatternDeleteForm(forms.Form):
    pattern_id = forms.UUIDField(widget=forms.HiddenInput)


class PatternsUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8; every non-empty cell is a pattern (one per line works). It "
        "replaces all the dictionary's patterns: you confirm on the next page.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {UPLOAD_MAX_BYTES // 1024} KB; a dictionary holds at "
                f"most {MAX_PATTERNS_PER_DICTIONARY} patterns."
            )
        return upload.read()


class PatternsReplaceForm(forms.Form):
    """The confirmed upload: the file's patterns, carried by the confirmation page."""

    patterns = forms.CharField(widget=forms.HiddenInput, required=False)
    confirm = forms.BooleanField(widget=forms.HiddenInput)

    def clean_patterns(self):
        return [line for line in self.cleaned_data["patterns"].split("\n") if line.strip()]


class RoomDictionaryForm(forms.Form):
    dictionary_id = forms.UUIDField(widget=forms.HiddenInput)
    enabled = on_off_field(label="Enabled")


class ReviewForm(forms.Form):
    message_id = forms.UUIDField(widget=forms.HiddenInput)
    reason = forms.CharField(label="Reason", required=False, max_length=500)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
