"""System events as upstream ``InteractionMessage`` dicts (reference section 6.4).

The sender (``user``) of a system event is whoever took the action; the payload
field is the one the upstream schema names for the type.
"""

from __future__ import annotations

import uuid

from django.utils import timezone

from chatrooms.api.serializers import (
    format_timestamp,
    render_blocked_user,
    render_custom_counter,
    render_pinned_message,
    render_poll,
    render_viewer_info,
)
from chatrooms.auth import Actor
from chatrooms.models import InteractionType


def render_actor(actor: Actor) -> dict:
    return {
        "id": actor.id,
        "device_id": actor.device_id,
        "custom_name": actor.name,
        "is_admin": actor.is_admin,
        "is_guest": actor.is_guest,
        "blocked": False,
    }


SERVER_USER = {
    "id": "system",
    "device_id": "",
    "custom_name": "system",
    "is_admin": True,
    "is_guest": False,
    "blocked": False,
}


def system_message(type: InteractionType, *, actor: Actor | None = None, **fields) -> dict:
    now = format_timestamp(timezone.now())
    return {
        "id": str(uuid.uuid4()),
        "user": render_actor(actor) if actor is not None else dict(SERVER_USER),
        "type": type,
        **fields,
        "created_at": now,
        "sent_at": now,
        "received_at": now,
    }


def mute(actor: Actor, *, muted: bool) -> dict:
    return system_message(InteractionType.MUTE if muted else InteractionType.UNMUTE, actor=actor)


def pin(actor: Actor, pin_row, *, pinned: bool) -> dict:
    kind = InteractionType.PIN_MESSAGE if pinned else InteractionType.UNPIN_MESSAGE
    return system_message(kind, actor=actor, pin_unpin_message=render_pinned_message(pin_row))


def delete(actor: Actor, message_id) -> dict:
    return system_message(
        InteractionType.DELETE_MESSAGE, actor=actor, delete_message={"id": str(message_id)}
    )


def block(actor: Actor, block_row, *, blocked: bool) -> dict:
    kind = InteractionType.BLOCK_USER if blocked else InteractionType.UNBLOCK_USER
    user = render_blocked_user(block_row)
    user["blocked"] = blocked
    return system_message(kind, actor=actor, block_unblock_user=user)


POLL_EVENT = {
    "POLL_STATUS_ACTIVE": InteractionType.POLL_STARTED,
    "POLL_STATUS_CLOSED": InteractionType.POLL_CLOSED,
    "POLL_STATUS_ARCHIVED": InteractionType.POLL_ARCHIVED,
}


def poll(kind: InteractionType, poll_row, *, actor: Actor | None = None) -> tuple[dict, dict]:
    """(what viewers get, what admins get): viewers see a quiz's answers only once
    the poll has ended, as in the room state."""
    viewer = system_message(kind, actor=actor, poll=render_poll(poll_row, reveal_answers=False))
    admin = dict(viewer, poll=render_poll(poll_row, reveal_answers=True))
    return viewer, admin


def vote(actor: Actor, poll_row, option_ids) -> dict:
    return system_message(
        InteractionType.POLL_USER_VOTE,
        actor=actor,
        vote={
            "poll": {
                "id": str(poll_row.id),
                "type": poll_row.type,
                "multi_choice": {"options": [{"id": str(option)} for option in option_ids]},
            }
        },
    )


def viewer_info(room, *, actor: Actor | None = None, kind: InteractionType) -> dict:
    return system_message(kind, actor=actor, viewer_info=render_viewer_info(room))


def counter(counter_row) -> dict:
    return system_message(
        InteractionType.CUSTOM_COUNTER_UPDATE, custom_counter=render_custom_counter(counter_row)
    )
