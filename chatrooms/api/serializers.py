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
from rest_framework.utils import html

from chatrooms.models import (
    FILTER_HIDDEN,
    MAX_SLOW_MODE_SECONDS,
    BlockedUser,
    ChatMessage,
    ChatMode,
    ChatStatus,
    CustomCounter,
    InteractionType,
    PinnedMessage,
    Poll,
    PollStatus,
    PollType,
    ReportStatus,
    ReportType,
    Role,
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


def render_poll(poll: Poll, *, reveal_answers: bool = True) -> dict:
    """`reveal_answers=False` (for viewers) hides which options are correct until the
    poll has ended, so a quiz's answer does not travel with its question."""
    reveal = reveal_answers or poll.status in (PollStatus.CLOSED, PollStatus.ARCHIVED)
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
                    "corrected": option.corrected and reveal,
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


def render_text_message(message: ChatMessage) -> dict:
    """``text_message``: ``filtered`` while the word filter keeps it from other viewers
    (held or confirmed), with upstream's ``filter_hit_result`` (chatrooms.wordfilter)."""
    if message.filter_status in FILTER_HIDDEN:
        return {
            "text": message.text,
            "filtered": True,
            "filter_hit_result": message.payload.get("filter_hit_result", {}),
        }
    return {"text": message.text, "filtered": False}


def render_message(message: ChatMessage) -> dict:
    """A stored message as an `InteractionMessage`."""
    body = {
        "id": str(message.id),
        "user": {
            "id": message.user_id,
            "device_id": message.user_device_id,
            "custom_name": message.user_custom_name,
            "is_admin": message.user_is_admin,
            "is_guest": message.user_is_guest,
            "blocked": getattr(message, "sender_blocked", message.user_blocked),
        },
        "type": message.type,
        "created_at": format_timestamp(message.received_at),
        "sent_at": format_timestamp(message.sent_at),
        "received_at": format_timestamp(message.received_at),
    }
    if message.type == InteractionType.TEXT:
        body["text_message"] = render_text_message(message)
    elif message.type == InteractionType.CUSTOM:
        body["custom_message"] = message.payload.get("custom_message", {})
    elif message.type == InteractionType.STICKER:
        body["sticker"] = message.payload.get("sticker", {})
    return body


def render_managed_chat(state: ChatroomState) -> dict:
    """`render_chat` for an API key, with the room's staff label and description."""
    return {
        **render_chat(state),
        "name": state.room.label,
        "description": state.room.description,
    }


def render_chat(state: ChatroomState, *, reveal_answers: bool = True) -> dict:
    room = state.room
    chat = {
        "id": str(room.id),
        "muted": room.muted,
        "status": room.status,
        "blocked_users": [render_blocked_user(block) for block in state.blocked_users],
        "pinned_messages": [render_pinned_message(pin) for pin in state.pinned_messages],
        "active_poll": (
            render_poll(state.active_poll, reveal_answers=reveal_answers)
            if state.active_poll
            else None
        ),
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


class StrictIntegerField(serializers.IntegerField):
    """Only JSON integers (not "5", not 5.5, not true)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID string only: DRF would turn 5, or false, into a UUID."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class StrictDateTimeField(serializers.DateTimeField):
    """An RFC 3339 string; an empty one is an error, not a missing value."""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":
            return ""  # DRF would read `?before_at=` as absent
        return super().get_value(dictionary)

    def validate_empty_values(self, data):
        if data == "":
            self.fail("invalid", format="RFC 3339, e.g. 2024-07-29T15:51:28.071Z")
        return super().validate_empty_values(data)


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


LABEL_MAX = 200
DESCRIPTION_MAX = 2000


class CreateChatroomInput(serializers.Serializer):
    custom_counters = CustomCounterKeyInput(
        many=True, required=False, help_text="Optional. The counters the room counts."
    )
    name = StrictCharField(
        max_length=LABEL_MAX,
        required=False,
        allow_blank=True,
        trim_whitespace=False,  # the limit is the schema's: on what was sent
        help_text="Extension (sent by BlendVision's own client): the room's staff label, "
        "shown in the console, the admin and the API-key reads. Not in the response.",
    )
    description = StrictCharField(
        max_length=DESCRIPTION_MAX,
        required=False,
        allow_blank=True,
        trim_whitespace=False,  # the limit is the schema's: on what was sent
        help_text="Extension (sent by BlendVision's own client): a description for staff, "
        "shown like `name`. Not in the response.",
    )


NAME_MAX = 128
ID_MAX = 128
TEXT_MAX = 2000
CUSTOM_VALUE_MAX = 8192


def id_field(**kwargs):
    return StrictCharField(max_length=ID_MAX, trim_whitespace=False, **kwargs)


def name_field(**kwargs):
    return StrictCharField(max_length=NAME_MAX, required=False, allow_blank=True, **kwargs)


class ChatroomUserInput(serializers.Serializer):
    """`action_taker`: only `custom_name` is read; the rest comes from the token."""

    custom_name = name_field(
        help_text="The name shown for whoever acts. Defaults to the token's name."
    )


class ActionTakerInput(serializers.Serializer):
    action_taker = ChatroomUserInput(required=False)


class ChangeStatusInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=["ACTION_ACTIVE", "ACTION_INACTIVE"])


class UpdateCustomCountersInput(serializers.Serializer):
    custom_counters = CustomCounterKeyInput(
        many=True,
        help_text="Required. The keys to count, in order; keys left out are "
        "disabled (values kept).",
    )


class CreateReportInput(serializers.Serializer):
    """`CreateChatroomReportBody`."""

    type = serializers.ChoiceField(choices=ReportType.choices)
    file_name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="The download's name (.csv is added). Defaults to the chatroom id.",
    )
    time_zone = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="IANA zone of the report's times, e.g. Asia/Taipei. Defaults to UTC.",
    )
    custom_event_id = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=128,
        help_text='Deprecated upstream: fills an "Event ID" column of the chat history.',
    )


class CreateReportOutput(serializers.Serializer):
    id = serializers.CharField()


class ReportOutput(serializers.Serializer):
    id = serializers.CharField()
    uri = serializers.CharField(
        help_text="While SUCCEEDED: a signed link to the CSV, valid for an hour from this "
        "answer; empty otherwise."
    )
    status = serializers.ChoiceField(choices=ReportStatus.choices)


# The iOS sample app mints viewer tokens with this misspelling; it shipped, so it is
# read as ROLE_VIEWER (the token then says ROLE_VIEWER).
ROLE_ALIASES = {"ROLE_VIWER": Role.VIEWER}


# Named in the schema by SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].
ROLE_INPUT_CHOICES = [
    *Role.choices,
    *((alias, f"{Role(role).label} (alias)") for alias, role in ROLE_ALIASES.items()),
]


class RoleField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=ROLE_INPUT_CHOICES, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        return Role(ROLE_ALIASES.get(value, value))


class CreateTokenInput(serializers.Serializer):
    role = RoleField(
        required=False,
        default=Role.GUEST,
        help_text="Default ROLE_GUEST. ROLE_VIWER (a misspelling the iOS sample app sends) "
        "is read as ROLE_VIEWER.",
    )
    device_id = id_field(
        required=False, allow_blank=True, help_text="Defaults to a generated UUID."
    )
    subject = id_field(
        required=False, allow_blank=True, help_text="The user id. Defaults to a generated UUID."
    )
    name = name_field(help_text='Display name. Defaults to "Admin" or "Guest".')
    expired_at = StrictDateTimeField(
        required=False,
        help_text="Extension used by the SDK samples: an earlier expiry "
        "than the default (never a later one).",
    )


class RefreshTokenInput(serializers.Serializer):
    refresh_token = StrictCharField(max_length=200)
    expired_at = StrictDateTimeField(required=False)


class BlockedUserInput(serializers.Serializer):
    id = id_field()
    device_id = id_field(required=False, allow_blank=True)
    custom_name = name_field()
    action_taker = ChatroomUserInput(required=False)


class BlockUserInput(serializers.Serializer):
    blocked_user = BlockedUserInput()


class UnblockedUserInput(serializers.Serializer):
    id = id_field()
    action_taker = ChatroomUserInput(required=False)


class UnblockUserInput(serializers.Serializer):
    unblocked_user = UnblockedUserInput()


class UpdateUserInput(serializers.Serializer):
    custom_name = StrictCharField(max_length=NAME_MAX)


class SenderInput(serializers.Serializer):
    id = id_field(required=False, allow_blank=True)
    device_id = id_field(required=False, allow_blank=True)
    custom_name = name_field()


class PinnedMessageBodyInput(serializers.Serializer):
    id = id_field()
    text = StrictCharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, trim_whitespace=False
    )
    sender = SenderInput(required=False)


class PinnedMessageInput(serializers.Serializer):
    message = PinnedMessageBodyInput()
    action_taker = ChatroomUserInput(required=False)


class PinMessageInput(serializers.Serializer):
    pinned_message = PinnedMessageInput()


class UnpinnedMessageBodyInput(serializers.Serializer):
    id = id_field()


class UnpinnedMessageInput(serializers.Serializer):
    message = UnpinnedMessageBodyInput()
    action_taker = ChatroomUserInput(required=False)


class UnpinMessageInput(serializers.Serializer):
    unpinned_message = UnpinnedMessageInput()


class ViewerInfoInput(serializers.Serializer):
    enabled = StrictBooleanField()


class UpdateViewerInfoInput(serializers.Serializer):
    viewer_info = ViewerInfoInput()
    action_taker = ChatroomUserInput(required=False)


class SlowModeInput(serializers.Serializer):
    seconds = StrictIntegerField(
        min_value=0,
        max_value=MAX_SLOW_MODE_SECONDS,
        help_text="One message per this many seconds for non-admins; 0 turns slow mode off.",
    )


class UpdateSlowModeInput(serializers.Serializer):
    slow_mode = SlowModeInput()
    action_taker = ChatroomUserInput(required=False)


class SlowModeOutput(serializers.Serializer):
    slow_mode = SlowModeInput()


class LockdownInput(serializers.Serializer):
    active = StrictBooleanField(
        help_text="true applies the room's saved lockdown bundle (set in the console); "
        "false puts back the settings from before."
    )


class UpdateLockdownInput(serializers.Serializer):
    lockdown = LockdownInput()
    action_taker = ChatroomUserInput(required=False)


class LockdownStateOutput(serializers.Serializer):
    active = serializers.BooleanField()
    started_at = serializers.CharField(
        allow_null=True, help_text="When it was turned on (null while off)."
    )
    new_user_hold_minutes = serializers.IntegerField(
        help_text="Users whose first session in the room is younger than this may not "
        "send (0: nobody is held); 400, code 9, reason NEW_USER_HELD."
    )


class LockdownOutput(serializers.Serializer):
    lockdown = LockdownStateOutput()


def render_lockdown(room, lockdown) -> dict:
    return {
        "lockdown": {
            "active": lockdown.active,
            "started_at": format_timestamp(lockdown.started_at) if lockdown.active else None,
            "new_user_hold_minutes": room.new_user_hold_minutes,
        }
    }


class PollOptionInput(serializers.Serializer):
    id = StrictUUIDField(
        required=False,
        help_text="Required on update for options that already exist; omit for new options.",
    )
    text = StrictCharField(max_length=500)
    corrected = StrictBooleanField(required=False, default=False)


class MultiChoiceInput(serializers.Serializer):
    question = StrictCharField(max_length=500)
    options = PollOptionInput(many=True)


class PollInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=PollType.choices)
    multi_choice = MultiChoiceInput()


class PollEnvelopeInput(serializers.Serializer):
    poll = PollInput()


class ChangePollInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=["ACTION_START", "ACTION_CLOSE", "ACTION_ARCHIVE"])
    action_taker = ChatroomUserInput(required=False)


class VoteOptionInput(serializers.Serializer):
    id = StrictUUIDField()


class VoteMultiChoiceInput(serializers.Serializer):
    options = VoteOptionInput(many=True)


class VotePollInput(serializers.Serializer):
    id = StrictUUIDField()
    type = serializers.ChoiceField(choices=PollType.choices)
    multi_choice = VoteMultiChoiceInput()


class VoteBodyInput(serializers.Serializer):
    poll = VotePollInput()


class VoteInput(serializers.Serializer):
    vote = VoteBodyInput()


class TextMessageInput(serializers.Serializer):
    text = StrictCharField(max_length=TEXT_MAX, trim_whitespace=False)


class IncrementInput(serializers.Serializer):
    key = StrictCharField(max_length=64, trim_whitespace=False)
    value = StrictIntegerField(min_value=-(2**31), max_value=2**31 - 1)


class CustomMessageInput(serializers.Serializer):
    value = StrictCharField(
        max_length=CUSTOM_VALUE_MAX, required=False, allow_blank=True, trim_whitespace=False
    )
    incr = IncrementInput(required=False)


class MessageUserInput(serializers.Serializer):
    custom_name = name_field()


class StickerMessageInput(serializers.Serializer):
    sticker_pack_id = StrictUUIDField()
    sticker_id = StrictUUIDField()


SENDABLE_TYPES = [InteractionType.TEXT, InteractionType.CUSTOM, InteractionType.STICKER]
SENDABLE_CHOICES = [(t.value, t.label) for t in SENDABLE_TYPES]  # named like ROLE_INPUT_CHOICES


class SendMessageInput(serializers.Serializer):
    """An `InteractionMessage` a client sends; the server fills id, times and user."""

    id = StrictUUIDField(
        required=False,
        help_text="Optional client-chosen UUID; sending the same id twice is ALREADY_EXISTS.",
    )
    type = serializers.ChoiceField(choices=SENDABLE_CHOICES)
    user = MessageUserInput(required=False)
    text_message = TextMessageInput(required=False)
    custom_message = CustomMessageInput(required=False)
    sticker = StickerMessageInput(
        required=False,
        help_text="For INTERACTION_TYPE_STICKER: a completed sticker of a pack enabled in "
        "the room; the server fills `image` and `metadata`.",
    )
    sent_at = StrictDateTimeField(
        required=False, help_text="When the client sent it. Defaults to the time it was received."
    )

    def validate(self, data):
        body = {
            InteractionType.TEXT: "text_message",
            InteractionType.CUSTOM: "custom_message",
            InteractionType.STICKER: "sticker",
        }[data["type"]]
        if body not in data:
            raise serializers.ValidationError({body: [f"Required for type {data['type']}."]})
        return data


class ServerMessageUserInput(serializers.Serializer):
    id = id_field(
        required=False,
        allow_blank=True,
        help_text="The user id the message appears from. Defaults to `api_key:<key prefix>`.",
    )
    custom_name = name_field(help_text='Defaults to the user id, or "Server" without one.')


class ServerInteractionMessageInput(SendMessageInput):
    """The `InteractionMessage` form of a message an API key sends; `user` may name
    the sender's id."""

    user = ServerMessageUserInput(required=False)


class ServerTextMessageInput(serializers.Serializer):
    """The form BlendVision's own client sends: `{"message": "hi", "userId": "u1"}`."""

    message = StrictCharField(max_length=TEXT_MAX, trim_whitespace=False)
    userId = id_field(  # the client's spelling
        required=False,
        allow_blank=True,
        help_text="The user id the message appears from. Defaults to `api_key:<key prefix>`.",
    )
    user_id = id_field(required=False, allow_blank=True, help_text="The same as `userId`.")
    custom_name = name_field(help_text='Defaults to the user id, or "Server" without one.')

    def validate_message(self, value):
        if not value.strip():
            raise serializers.ValidationError("The message cannot be empty.")
        return value


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter; an empty one (`?page=`) is an error, not absent."""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)

    def validate_empty_values(self, data):
        if data == "":
            self.fail("invalid")
        return super().validate_empty_values(data)


class RoomPageQuery(serializers.Serializer):
    page = QueryIntegerField(
        required=False, min_value=1, default=1, help_text="API key only. 1-based; default 1."
    )
    page_size = QueryIntegerField(
        required=False,
        min_value=1,
        help_text="API key only. Default 10; values over 100 are read as 100.",
    )
    pageSize = QueryIntegerField(  # BlendVision's client's spelling
        required=False, min_value=1, help_text="API key only. The same as `page_size`."
    )


class MessageListQuery(serializers.Serializer):
    before_at = StrictDateTimeField(required=False)
    after_at = StrictDateTimeField(required=False)
    limit = serializers.IntegerField(
        required=False, min_value=1, help_text="Default 10; values over 100 are read as 100."
    )
    from_oldest = serializers.BooleanField(required=False, default=False)
    types = serializers.ListField(
        child=serializers.ChoiceField(choices=InteractionType.choices), required=False
    )


class PageQuery(serializers.Serializer):
    page_size = QueryIntegerField(
        required=False, min_value=1, help_text="Default 10; values over 100 are read as 100."
    )
    page_token = serializers.CharField(required=False, allow_blank=True, max_length=200)


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


class ManagedChatOutput(ChatOutput):
    """A room as the API-key reads show it: `chat.v1.Chat` plus its staff label and
    description (extensions)."""

    name = serializers.CharField(help_text="Extension: the staff label (`name` at creation).")
    description = serializers.CharField(help_text="Extension: the staff description.")


class ManagedChatEnvelopeOutput(serializers.Serializer):
    chatroom = ManagedChatOutput()


class RoomPaginationOutput(serializers.Serializer):
    current_page = serializers.IntegerField()
    items_per_page = serializers.IntegerField()
    has_next_page = serializers.BooleanField(
        help_text="Whether a next page exists (there is no total count: docs/api.md)."
    )


class ChatroomPageOutput(serializers.Serializer):
    chatrooms = ManagedChatOutput(many=True)
    pagination = RoomPaginationOutput()


class StatusOutput(serializers.Serializer):
    """google.rpc.Status."""

    code = serializers.IntegerField(help_text="gRPC status code (not the HTTP status).")
    message = serializers.CharField()
    details = serializers.ListField(child=serializers.DictField())


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds.")
    refresh_token = serializers.CharField()
    refresh_expires_in = serializers.IntegerField(help_text="Seconds.")


class RefreshOutput(serializers.Serializer):
    token = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds.")
    refresh_token = serializers.CharField(
        help_text="Extension: the rotated refresh token. The one sent is now used up."
    )
    refresh_expires_in = serializers.IntegerField(help_text="Extension. Seconds.")


class ConnectionOutput(serializers.Serializer):
    endpoint = serializers.CharField(
        help_text="Bare host name; clients connect to wss://<endpoint>:443/mqtt."
    )
    authorizer = serializers.CharField()
    token = serializers.CharField()
    signature = serializers.CharField()
    client_id = serializers.CharField(
        help_text="Use as the MQTT client id: it is a signed credential on its own."
    )
    url = serializers.CharField(
        help_text="Extension. The broker's WebSocket URL, e.g. ws://127.0.0.1:9001/mqtt in "
        "development."
    )


class TopicOutput(serializers.Serializer):
    pub = serializers.CharField()
    sub = serializers.CharField()


class ConfigUserOutput(serializers.Serializer):
    is_admin = serializers.BooleanField()
    is_guest = serializers.BooleanField()
    customer_id = serializers.CharField()
    device_id = serializers.CharField()
    custom_name = serializers.CharField()


class TokenExpiryOutput(serializers.Serializer):
    expired_at = serializers.DateTimeField()


class ConfigOutput(serializers.Serializer):
    connection = ConnectionOutput()
    topic = TopicOutput()
    user = ConfigUserOutput()
    token = TokenExpiryOutput()


class FilterHitResultOutput(serializers.Serializer):
    pattern_id = serializers.CharField()
    pattern_text = serializers.CharField()
    dictionary_id = serializers.CharField()
    dictionary_name = serializers.CharField()


class TextMessageOutput(serializers.Serializer):
    text = serializers.CharField()
    filtered = serializers.BooleanField(
        help_text="True while the room's word filter keeps the message from other viewers "
        "(shown to its sender and admins only)."
    )
    filter_hit_result = FilterHitResultOutput(
        required=False, help_text="What matched; present while `filtered`."
    )


class IncrementOutput(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.IntegerField()


class CustomMessageOutput(serializers.Serializer):
    value = serializers.CharField(required=False)
    incr = IncrementOutput(required=False)


class StickerThumbnailOutput(serializers.Serializer):
    uri = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class StickerMessageImageOutput(serializers.Serializer):
    thumbnails = StickerThumbnailOutput(many=True)


class StickerMessageMetadataOutput(serializers.Serializer):
    sticker_pack_name = serializers.CharField()
    sticker_name = serializers.CharField()


class StickerMessageOutput(serializers.Serializer):
    sticker_pack_id = serializers.CharField()
    sticker_id = serializers.CharField()
    image = StickerMessageImageOutput()
    metadata = StickerMessageMetadataOutput()


class InteractionMessageOutput(serializers.Serializer):
    id = serializers.UUIDField()
    user = ChatUserOutput()
    type = serializers.ChoiceField(choices=InteractionType.choices)
    text_message = TextMessageOutput(required=False)
    custom_message = CustomMessageOutput(required=False)
    sticker = StickerMessageOutput(required=False)
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()


class MessageEnvelopeOutput(serializers.Serializer):
    message = InteractionMessageOutput()


class MessagesOutput(serializers.Serializer):
    messages = InteractionMessageOutput(many=True)


class PollEnvelopeOutput(serializers.Serializer):
    poll = PollOutput()


class PollsPageOutput(serializers.Serializer):
    polls = PollOutput(many=True)
    next_page_token = serializers.CharField(help_text="Empty on the last page.")
