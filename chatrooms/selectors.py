"""Reads with a query shape or a visibility rule. Each returns what its caller
renders with the queries already made: no lazy loads in loops."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Prefetch

from chatrooms.models import (
    BlockedUser,
    Chatroom,
    CustomCounter,
    PinnedMessage,
    Poll,
    PollOption,
    PollStatus,
)


@dataclass
class ChatroomState:
    """Everything the `chat.v1.Chat` JSON shows for one room."""

    room: Chatroom
    blocked_users: list[BlockedUser] = field(default_factory=list)
    pinned_messages: list[PinnedMessage] = field(default_factory=list)
    active_poll: Poll | None = None
    custom_counters: list[CustomCounter] = field(default_factory=list)


def poll_queryset():
    return Poll.objects.prefetch_related(
        Prefetch("options", queryset=PollOption.objects.order_by("position", "id"))
    )


def chatroom_get_state(*, room: Chatroom) -> ChatroomState:
    """The full room state in five queries whatever its size: active blocks,
    pins, counters, the active poll and that poll's options."""
    active_polls = list(poll_queryset().filter(room=room, status=PollStatus.ACTIVE)[:1])
    return ChatroomState(
        room=room,
        blocked_users=list(BlockedUser.objects.active().filter(room=room)),
        pinned_messages=list(PinnedMessage.objects.filter(room=room)),
        active_poll=active_polls[0] if active_polls else None,
        custom_counters=list(CustomCounter.objects.filter(room=room)),
    )
