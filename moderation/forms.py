"""Input of the console's pages and actions.

Forms only read and check input; the services decide what is allowed and
write. Every field has a label, so every control on a page has one too. The list
pages' filters are FilterSets, in ``moderation.filters``.
"""

import re
from datetime import timedelta

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from chatrooms.models import (
    MAX_NEW_USER_HOLD_MINUTES,
    MAX_SLOW_MODE_SECONDS,
    ChatStatus,
    PollType,
    ReportType,
)
from chatrooms.services import (
    MAX_POLL_OPTIONS,
    MIN_POLL_OPTIONS,
    PURGE_MAX_MINUTES,
    OptionInput,
    PollAction,
)

ON_OFF = [("1", "On"), ("0", "Off")]


def on_off_field(**kwargs) -> forms.TypedChoiceField:
    """A boolean sent as "1"/"0" by a button (a checkbox cannot say "off")."""
    return forms.TypedChoiceField(choices=ON_OFF, coerce=lambda value: value == "1", **kwargs)


def split_keys(text: str) -> list[str]:
    """Counter keys typed as "like, heart" or "like heart", in order."""
    return [key for key in re.split(r"[\s,]+", text) if key]


class StaffAuthenticationForm(AuthenticationForm):
    """Sign-in for staff accounts only, with the same answer for a wrong
    password and a non-staff account (as the Django admin does)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Enter the username and password of a staff account. "
        "Both are case-sensitive.",
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login")


# --- Rooms ---------------------------------------------------------------------------


class RoomCreateForm(forms.Form):
    label = forms.CharField(
        label="Label",
        required=False,
        max_length=200,
        help_text="Optional. What staff see in the console, e.g. “Keynote day 1”.",
    )
    counter_keys = forms.CharField(
        label="Counter keys",
        required=False,
        help_text="Optional. Keys viewers can count, separated by commas, e.g. “like, heart”.",
    )

    def clean_counter_keys(self):
        return split_keys(self.cleaned_data["counter_keys"])


# --- The room ------------------------------------------------------------------------


class MuteForm(forms.Form):
    muted = on_off_field(label="Muted")


class StatusForm(forms.Form):
    status = forms.ChoiceField(label="Status", choices=ChatStatus.choices)


class ViewerInfoForm(forms.Form):
    enabled = on_off_field(label="Viewer info")


class LabelForm(forms.Form):
    label = forms.CharField(label="Label", required=False, max_length=200)


class SlowModeForm(forms.Form):
    seconds = forms.IntegerField(
        label="Slow mode (seconds)",
        min_value=0,
        max_value=MAX_SLOW_MODE_SECONDS,
        help_text=f"Viewers may send one message per this many seconds; 0 turns slow mode "
        f"off (at most {MAX_SLOW_MODE_SECONDS}). Admins are not slowed.",
    )


class LockdownForm(forms.Form):
    on = on_off_field(label="Lockdown")


class LockdownBundleForm(forms.Form):
    """What one click on "Lockdown" applies (lockdown only ever tightens a setting)."""

    slow_mode_seconds = forms.IntegerField(
        label="Slow mode (seconds)",
        min_value=0,
        max_value=MAX_SLOW_MODE_SECONDS,
        help_text="At least this slow during lockdown; 0 leaves slow mode as it is.",
    )
    mute_viewers = forms.BooleanField(
        label="Mute viewers", required=False, help_text="Only admins may send during lockdown."
    )
    hold_new_users_minutes = forms.IntegerField(
        label="Hold new users (minutes)",
        min_value=0,
        max_value=MAX_NEW_USER_HOLD_MINUTES,
        help_text="Users whose first session in the room is younger than this may not send; "
        "0 holds nobody.",
    )


class ReportForm(forms.Form):
    type = forms.ChoiceField(label="Report", choices=ReportType.choices)
    time_zone = forms.CharField(
        label="Time zone",
        max_length=64,
        initial="UTC",
        help_text="The report's times are in this zone: an IANA name such as Asia/Taipei "
        "or Europe/London.",
    )
    file_name = forms.CharField(
        label="File name",
        max_length=200,
        required=False,
        help_text="Without .csv; the room id when left empty.",
    )


class CountersForm(forms.Form):
    keys = forms.CharField(
        label="Counter keys",
        required=False,
        help_text="In display order, separated by commas. A key you remove is disabled and "
        "keeps its value; add it again to bring it back.",
    )

    def clean_keys(self):
        return split_keys(self.cleaned_data["keys"])


# What Twitch and YouTube offer a moderator: short timeouts, a day, or for good.
BLOCK_DURATIONS = [
    ("", "Until unblocked"),
    ("10", "10 seconds"),
    ("60", "1 minute"),
    ("600", "10 minutes"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
]


class BlockForm(forms.Form):
    """Block the sender of a message (``message_id``) or a user by id."""

    message_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    user_id = forms.CharField(label="User id", required=False, max_length=128)
    device_id = forms.CharField(required=False, max_length=128, widget=forms.HiddenInput)
    custom_name = forms.CharField(label="Name", required=False, max_length=128)
    reason = forms.CharField(label="Reason", required=False, max_length=500)
    duration = forms.TypedChoiceField(
        label="For",
        required=False,
        choices=BLOCK_DURATIONS,
        coerce=int,
        empty_value=None,
    )

    def clean(self):
        data = super().clean()
        if not data.get("message_id") and not data.get("user_id"):
            raise ValidationError("Say whom to block: a message's sender or a user id.")
        return data

    @staticmethod
    def expiry(duration_seconds):
        """When a block of this duration (none: until unblocked) ends."""
        if not duration_seconds:
            return None
        return timezone.now() + timedelta(seconds=duration_seconds)


class UnblockForm(forms.Form):
    user_id = forms.CharField(label="User id", max_length=128)
    reason = forms.CharField(label="Reason", required=False, max_length=500)


class RoomModeratorForm(forms.Form):
    """Assign (or unassign) a staff user to a room; ``users`` are who may be chosen."""

    user = forms.ModelChoiceField(label="Moderator", queryset=None, to_field_name="pk")

    def __init__(self, *args, users, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = users


PURGE_WINDOWS = [
    (1, "1 minute"),
    (5, "5 minutes"),
    (10, "10 minutes"),
    (30, "30 minutes"),
    (60, "1 hour"),
    (PURGE_MAX_MINUTES, "24 hours"),
]


class PurgeForm(forms.Form):
    """Delete one user's messages of the last few minutes in the room."""

    user_id = forms.CharField(label="User id", max_length=128)
    custom_name = forms.CharField(required=False, max_length=128, widget=forms.HiddenInput)
    minutes = forms.TypedChoiceField(
        label="Messages of the last", choices=PURGE_WINDOWS, coerce=int, initial=5
    )
    reason = forms.CharField(label="Reason", required=False, max_length=500)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class EndSessionsForm(forms.Form):
    """End one user's sessions (``user_id``) or, without it, every session of a room."""

    user_id = forms.CharField(label="User id", required=False, max_length=128)
    custom_name = forms.CharField(required=False, max_length=128, widget=forms.HiddenInput)
    reason = forms.CharField(label="Reason", required=False, max_length=500)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class MessageForm(forms.Form):
    """Pin, unpin or delete one message."""

    message_id = forms.CharField(max_length=128, widget=forms.HiddenInput)
    reason = forms.CharField(label="Reason", required=False, max_length=500)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


# --- Polls ---------------------------------------------------------------------------

DEFAULT_OPTION_ROWS = 4
POLL_TYPE_LABELS = {
    PollType.SINGLE_CHOICE: "Single choice: each viewer picks one option",
    PollType.MULTI_CHOICE: "Multiple choice: each viewer picks one or more",
}


class PollForm(forms.Form):
    """A poll's type, question and a fixed number of option rows.

    Rows left empty are ignored; at least MIN_POLL_OPTIONS must be filled in.
    When editing, each row carries its option's id so the option keeps it.
    """

    type = forms.ChoiceField(
        label="Type",
        choices=[(value, POLL_TYPE_LABELS[value]) for value in PollType.values],
        initial=PollType.SINGLE_CHOICE,
        widget=forms.RadioSelect,
    )
    question = forms.CharField(label="Question", max_length=500)

    def __init__(self, *args, rows: int = DEFAULT_OPTION_ROWS, poll=None, **kwargs):
        super().__init__(*args, **kwargs)
        if poll is not None:
            options = list(poll.options.all())
            self.initial.update(type=poll.type, question=poll.question)
            for index, option in enumerate(options, start=1):
                self.initial[f"option_{index}"] = option.text
                self.initial[f"correct_{index}"] = option.corrected
                self.initial[f"option_id_{index}"] = option.id
            rows = max(rows, len(options))
        # The template posts its row count as "rows"; "add_rows" asks for more rows.
        self.adding_rows = self.is_bound and "add_rows" in self.data
        if self.is_bound:
            rows = self._clamp(self.data.get("rows"), rows)
            if self.adding_rows:
                rows = min(rows + 2, MAX_POLL_OPTIONS)
        self.row_count = rows
        self.can_add_rows = rows < MAX_POLL_OPTIONS
        for index in range(1, rows + 1):
            self.fields[f"option_{index}"] = forms.CharField(
                label=f"Option {index}", required=False, max_length=500
            )
            self.fields[f"correct_{index}"] = forms.BooleanField(
                label="Correct answer", required=False
            )
            self.fields[f"option_id_{index}"] = forms.UUIDField(
                required=False, widget=forms.HiddenInput
            )

    @staticmethod
    def _clamp(value, default: int) -> int:
        try:
            rows = int(value)
        except (TypeError, ValueError):
            return default
        return min(max(rows, MIN_POLL_OPTIONS), MAX_POLL_OPTIONS)

    def option_rows(self):
        """(text field, correct field, id field) per row, for the template."""
        return [
            (self[f"option_{i}"], self[f"correct_{i}"], self[f"option_id_{i}"])
            for i in range(1, self.row_count + 1)
        ]

    def clean(self):
        data = super().clean()
        options = []
        for index in range(1, self.row_count + 1):
            text = (data.get(f"option_{index}") or "").strip()
            if text:
                options.append(
                    OptionInput(
                        text=text,
                        corrected=bool(data.get(f"correct_{index}")),
                        id=data.get(f"option_id_{index}"),
                    )
                )
            elif data.get(f"correct_{index}"):
                self.add_error(f"option_{index}", "A correct answer needs its text.")
        if len(options) < MIN_POLL_OPTIONS:
            raise ValidationError(f"Fill in at least {MIN_POLL_OPTIONS} options.")
        data["options"] = options
        return data


class PollChangeForm(forms.Form):
    action = forms.ChoiceField(choices=PollAction.choices)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


# --- API keys ------------------------------------------------------------------------


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What the key is for, e.g. “Player backend (production)”.",
    )
