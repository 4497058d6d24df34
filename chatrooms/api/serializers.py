"""The JSON of the `/bv/chatroom/v1` API.

Three kinds of thing live here:

* wire helpers (`format_timestamp`, `format_duration`) for protobuf JSON forms;
* ``render_*`` functions that build response bodies straight from model rows:
  the room state can carry thousands of blocked users, and plain dict building
  is an order of magnitude cheaper than nested DRF serializers;
* DRF serializers: input serializers validate request bodies, and output
  serializers describe the rendered bodies for the OpenAPI schema (a test
  checks every rendered response against that schema).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rest_framework import serializers

from chatrooms.models import (
    BlockedUser,
    ChatMode,
    ChatStatus,
    CustomCounter,
    PinnedMessage,
    Poll,
    PollStatus,
    PollType,
    counter_key_validator,
)
from chatrooms.selectors import ChatroomState

# --- Wire forms ------------------------------------------------------------------


def format_timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with milliseconds, as the upstream examples: 2024-07-29T15:51:28.071Z."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_duration(value: timedelta) -> str:
    """google.protobuf.Duration JSON: "86400s", "1.500s"."""
    micros = value // timedelta(microseconds=1)
    seconds, fraction = divmod(micros, 1_000_000)
    if not fraction:
        return f"{seconds}s"
    return f"{seconds}.{fraction:06d}".rstrip("0") + "s"


# --- Rendering ---------------------------------------------------------------------


def render_action_taker(row) -> dict:
    return {
        "id": row.action_taker_id,
        "device_id": row.action_taker_device_id,
        "custom_name": row.action_taker_custom_name,
        "is_admin": row.action_taker_is_admin,
        "is_guest": row.action_taker_is_guest,
        "blocked": False,
    }


def render_blocked_user(block: BlockedUser) -> dict:
    return {
        "id": block.user_id,
        "device_id": block.device_id,
        "custom_name": block.custom_name,
        "blocked": True,
        "action_taker": render_action_taker(block),
    }


def render_pinned_message(pin: PinnedMessage) -> dict:
    return {
        "message": {
            "id": pin.message_id,
            "text": pin.message_text,
            "sender": {
                "id": pin.sender_id,
                "device_id": pin.sender_device_id,
                "custom_name": pin.sender_custom_name,
            },
        },
        "action_taker": render_action_taker(pin),
    }


def render_poll(poll: Poll) -> dict:
    return {
        "id": str(poll.id),
        "type": poll.type,
        "status": poll.status,
        "votes_count": poll.votes_count,
        "multi_choice": {
            "question": poll.question,
            "options": [
                {
                    "id": str(option.id),
                    "text": option.text,
                    "corrected": option.corrected,
                    "votes_count": option.votes_count,
                }
                for option in poll.options.all()
            ],
        },
        "started_at": format_timestamp(poll.started_at),
        "ended_at": format_timestamp(poll.ended_at),
    }


def render_custom_counter(counter: CustomCounter) -> dict:
    return {
        "key": counter.key,
        "value": counter.value,
        "version_number": str(counter.version_number),
        "updated_at": format_timestamp(counter.updated_at),
        "disabled": counter.disabled,
    }


def render_viewer_info(room) -> dict:
    return {
        "enabled": room.viewer_info_enabled,
        "count": room.viewer_count,
        "version_number": str(room.viewer_info_version),
        "updated_at": format_timestamp(room.viewer_info_updated_at),
    }


def render_chat(state: ChatroomState) -> dict:
    room = state.room
    chat = {
        "id": str(room.id),
        "muted": room.muted,
        "status": room.status,
        "blocked_users": [render_blocked_user(block) for block in state.blocked_users],
        "pinned_messages": [render_pinned_message(pin) for pin in state.pinned_messages],
        "active_poll": render_poll(state.active_poll) if state.active_poll else None,
        "viewer_info": render_viewer_info(room),
        "custom_counters": [render_custom_counter(c) for c in state.custom_counters],
        "message_setting": {
            "ttl": format_duration(room.message_ttl),
            "batch_window": format_duration(room.batch_window),
        },
        "created_at": format_timestamp(room.created_at),
        "updated_at": format_timestamp(room.updated_at),
    }
    if room.mode:
        chat["mode"] = room.mode
    return chat


# --- Input -------------------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """A string field that takes only JSON strings, as protobuf JSON parsing does
    (DRF would turn 5 into "5")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """Only JSON true/false: protobuf JSON rejects "yes", 1 and "true" for a bool."""

    default_error_messages = {"invalid": "Must be a JSON boolean (true or false)."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class CustomCounterKeyInput(serializers.Serializer):
    """A `CustomCounter` on input: only `key` is read; output-only fields are ignored."""

    key = StrictCharField(
        max_length=64,
        trim_whitespace=False,
        validators=[counter_key_validator],
        help_text="Required. Immutable. 1-64 characters of [A-Za-z0-9_.-], starting with a "
        "letter or digit; unique within the request.",
    )


def validate_unique_keys(counters: list[dict]) -> list[dict]:
    errors: list[dict] = []
    seen: set[str] = set()
    for counter in counters:
        key = counter["key"]
        errors.append({"key": [f"The key {key!r} is repeated."]} if key in seen else {})
        seen.add(key)
    if any(errors):
        raise serializers.ValidationError(errors)
    return counters


class CreateChatroomInput(serializers.Serializer):
    custom_counters = CustomCounterKeyInput(
        many=True, required=False, help_text="Optional. The counters the room counts."
    )

    def validate_custom_counters(self, value):
        return validate_unique_keys(value)


# --- Output, for the schema --------------------------------------------------------


class ChatUserOutput(serializers.Serializer):
    id = serializers.CharField()
    device_id = serializers.CharField()
    custom_name = serializers.CharField()
    is_admin = serializers.BooleanField()
    is_guest = serializers.BooleanField()
    blocked = serializers.BooleanField()


class BlockUserOutput(serializers.Serializer):
    id = serializers.CharField()
    device_id = serializers.CharField()
    custom_name = serializers.CharField()
    blocked = serializers.BooleanField()
    action_taker = ChatUserOutput()


class MessageSenderOutput(serializers.Serializer):
    id = serializers.CharField()
    device_id = serializers.CharField()
    custom_name = serializers.CharField()


class PinnedMessageBodyOutput(serializers.Serializer):
    id = serializers.CharField()
    text = serializers.CharField()
    sender = MessageSenderOutput()


class PinMessageOutput(serializers.Serializer):
    message = PinnedMessageBodyOutput()
    action_taker = ChatUserOutput()


class PollOptionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    text = serializers.CharField()
    corrected = serializers.BooleanField()
    votes_count = serializers.IntegerField()


class MultiChoiceOutput(serializers.Serializer):
    question = serializers.CharField()
    options = PollOptionOutput(many=True)


class PollOutput(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=PollType.choices)
    status = serializers.ChoiceField(choices=PollStatus.choices)
    votes_count = serializers.IntegerField()
    multi_choice = MultiChoiceOutput()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


class ViewerInfoOutput(serializers.Serializer):
    enabled = serializers.BooleanField()
    count = serializers.IntegerField()
    version_number = serializers.CharField(help_text="int64 as a decimal string.")
    updated_at = serializers.DateTimeField()


class CustomCounterOutput(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.IntegerField()
    version_number = serializers.CharField(help_text="int64 as a decimal string.")
    updated_at = serializers.DateTimeField()
    disabled = serializers.BooleanField()


class MessageSettingOutput(serializers.Serializer):
    ttl = serializers.CharField(help_text='google.protobuf.Duration, e.g. "86400s".')
    batch_window = serializers.CharField(help_text='google.protobuf.Duration, e.g. "1s".')


class ChatOutput(serializers.Serializer):
    id = serializers.UUIDField()
    muted = serializers.BooleanField()
    status = serializers.ChoiceField(choices=ChatStatus.choices)
    blocked_users = BlockUserOutput(many=True)
    pinned_messages = PinMessageOutput(many=True)
    active_poll = PollOutput(allow_null=True)
    viewer_info = ViewerInfoOutput()
    custom_counters = CustomCounterOutput(many=True)
    message_setting = MessageSettingOutput()
    mode = serializers.ChoiceField(
        choices=ChatMode.choices, required=False, help_text="Present only when set."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ChatEnvelopeOutput(serializers.Serializer):
    chatroom = ChatOutput()


class StatusOutput(serializers.Serializer):
    """google.rpc.Status."""

    code = serializers.IntegerField(help_text="gRPC status code (not the HTTP status).")
    message = serializers.CharField()
    details = serializers.ListField(child=serializers.DictField())
