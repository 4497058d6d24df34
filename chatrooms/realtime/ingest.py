"""What a client published, read strictly: an upstream ``InteractionMessage`` object
becomes an ``IncomingMessage`` (text, custom) or a ``Vote``, or is dropped with a
reason the worker counts. The sender comes from the broker-stamped identity, never
from the payload: ``user`` may carry only the display name (``custom_name``), and a
``user`` that claims another id, device or role is forged and dropped.

The limits are the REST extension's (``chatrooms.api.serializers``); the domain
rules (mute, blocks, counters, polls) are the services', shared with REST.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from chatrooms.api.serializers import CUSTOM_VALUE_MAX, NAME_MAX, TEXT_MAX
from chatrooms.auth import Actor
from chatrooms.models import ActorKind, AuditSource, InteractionType, Role
from chatrooms.services import IncomingMessage, Increment
from chatrooms.stickers.messages import sticker_payload

COUNTER_KEY_MAX = 64
MAX_VOTE_OPTIONS = 20


class Drop(Exception):
    """The message is not one we take; ``reason`` names the counter it goes to."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Sender:
    """The broker's word on who published (``x-chatroom-identity``)."""

    room_id: uuid.UUID
    actor: Actor

    @classmethod
    def from_identity(cls, raw: str) -> Sender:
        try:
            identity = json.loads(raw)
            role = Role(identity["role"])
            return cls(
                room_id=uuid.UUID(identity["room"]),
                actor=Actor(
                    kind=ActorKind.CHATROOM_TOKEN,
                    source=AuditSource.API,
                    id=str(identity["id"]),
                    name=str(identity.get("custom_name", "")),
                    device_id=str(identity.get("device_id", "")),
                    is_admin=role == Role.ADMIN,
                    is_guest=role == Role.GUEST,
                ),
            )
        except (ValueError, KeyError, TypeError):
            raise Drop("bad_identity") from None


@dataclass(frozen=True)
class Vote:
    actor: Actor
    poll_id: uuid.UUID
    option_ids: list[uuid.UUID]


def _string(container: dict, key: str, *, limit: int, required: bool = True) -> str:
    value = container.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise Drop("wrong_field_type")
    if len(value) > limit:
        raise Drop("too_long")
    return value


def _object(container: dict, key: str, *, required: bool = True) -> dict:
    value = container.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise Drop("wrong_field_type")
    return value


def _uuid(value) -> uuid.UUID:
    if not isinstance(value, str):
        raise Drop("wrong_field_type")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Drop("wrong_field_type") from None


def _sent_at(body: dict, received_at: datetime) -> datetime:
    value = body.get("sent_at")
    if value is None:
        return received_at
    if not isinstance(value, str) or len(value) > 64:
        raise Drop("wrong_field_type")
    try:
        # Python 3.11 reads any number of fractional digits, as Android's
        # "...SSS000000Z" form has.
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Drop("wrong_field_type") from None
    if moment.tzinfo is None:
        raise Drop("wrong_field_type")
    return moment.astimezone(UTC)


# What a client may say about itself, and what the identity says instead.
_SELF_FIELDS = {
    "id": lambda actor: actor.id,
    "device_id": lambda actor: actor.device_id,
    "is_admin": lambda actor: actor.is_admin,
    "is_guest": lambda actor: actor.is_guest,
}


def _actor(body: dict, sender: Sender) -> Actor:
    user = _object(body, "user", required=False)
    for key, truth in _SELF_FIELDS.items():
        if key in user and user[key] != truth(sender.actor):
            raise Drop("forged_user")
    if user.get("blocked"):
        raise Drop("forged_user")
    name = _string(user, "custom_name", limit=NAME_MAX, required=False)
    return sender.actor.with_name(name)


def parse(payload: bytes, sender: Sender, *, received_at: datetime) -> IncomingMessage | Vote:
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise Drop("not_json") from None
    if not isinstance(body, dict):
        raise Drop("not_an_object")
    kind = body.get("type")
    actor = _actor(body, sender)
    if kind == InteractionType.POLL_USER_VOTE:
        return _vote(body, actor)
    if kind not in (InteractionType.TEXT, InteractionType.CUSTOM, InteractionType.STICKER):
        raise Drop("unknown_type")
    message_id = _uuid(body["id"]) if body.get("id") is not None else None
    ids = {"message_id": message_id, "server_id": None if message_id else uuid.uuid4()}
    sent_at = _sent_at(body, received_at)
    if kind == InteractionType.TEXT:
        text = _string(_object(body, "text_message"), "text", limit=TEXT_MAX)
        if not text.strip():
            raise Drop("empty")
        return IncomingMessage(
            actor=actor,
            type=InteractionType.TEXT,
            sent_at=sent_at,
            text=text,
            **ids,
        )
    if kind == InteractionType.STICKER:
        # Checked against the room's enabled packs by services.messages_send.
        sticker = _object(body, "sticker")
        return IncomingMessage(
            actor=actor,
            type=InteractionType.STICKER,
            sent_at=sent_at,
            payload=sticker_payload(
                _uuid(sticker.get("sticker_pack_id")), _uuid(sticker.get("sticker_id"))
            ),
            **ids,
        )
    custom = _object(body, "custom_message")
    value = _string(custom, "value", limit=CUSTOM_VALUE_MAX, required=False)
    payload_out = {"custom_message": {"value": value}}
    increment = None
    if "incr" in custom:
        incr = _object(custom, "incr")
        key = _string(incr, "key", limit=COUNTER_KEY_MAX)
        amount = incr.get("value")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise Drop("wrong_field_type")
        increment = Increment(key=key, value=amount)
        payload_out["custom_message"]["incr"] = {"key": key, "value": amount}
    return IncomingMessage(
        actor=actor,
        type=InteractionType.CUSTOM,
        sent_at=sent_at,
        payload=payload_out,
        increment=increment,
        **ids,
    )


def _vote(body: dict, actor: Actor) -> Vote:
    poll = _object(_object(body, "vote"), "poll")
    options = _object(poll, "multi_choice").get("options")
    if not isinstance(options, list) or not 0 < len(options) <= MAX_VOTE_OPTIONS:
        raise Drop("wrong_field_type")
    option_ids = []
    for option in options:
        if not isinstance(option, dict):
            raise Drop("wrong_field_type")
        option_ids.append(_uuid(option.get("id")))
    return Vote(actor=actor, poll_id=_uuid(poll.get("id")), option_ids=option_ids)
