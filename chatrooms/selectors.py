"""Reads with a query shape or a visibility rule. Each returns what its caller
renders with the queries already made: no lazy loads in loops."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Prefetch, Q

from chatrooms.models import (
    BlockedUser,
    ChatMessage,
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


# --- Messages ---------------------------------------------------------------------

MESSAGE_LIMIT_DEFAULT = 10
MESSAGE_LIMIT_MAX = 100


def active_block_keys(*, room: Chatroom) -> tuple[set[str], set[str]]:
    """The (user ids, device ids) blocked in a room right now, in one query."""
    user_ids: set[str] = set()
    device_ids: set[str] = set()
    for user_id, device_id in (
        BlockedUser.objects.active().filter(room=room).values_list("user_id", "device_id")
    ):
        user_ids.add(user_id)
        if device_id:
            device_ids.add(device_id)
    return user_ids, device_ids


def message_list(
    *,
    room: Chatroom,
    viewer_id: str,
    viewer_is_admin: bool,
    before_at=None,
    after_at=None,
    limit: int = MESSAGE_LIMIT_DEFAULT,
    from_oldest: bool = False,
    types: list[str] | None = None,
) -> list[ChatMessage]:
    """History as the viewer may see it, in the upstream paging contract.

    Newest first by default (``before_at`` pages back); ``from_oldest`` lists
    oldest first (``after_at`` pages forward). Deleted messages are hidden from
    everyone but admins; messages of currently blocked users are shown only to
    admins and to their sender. Each message gets ``sender_blocked``.
    """
    queryset = ChatMessage.objects.filter(room=room)
    if before_at is not None:
        queryset = queryset.filter(received_at__lt=before_at)
    if after_at is not None:
        queryset = queryset.filter(received_at__gt=after_at)
    if types:
        queryset = queryset.filter(type__in=types)
    blocked_users = BlockedUser.objects.active().filter(room=room)
    blocked_match = Q(user_id__in=blocked_users.values("user_id")) | Q(
        user_device_id__in=blocked_users.exclude(device_id="").values("device_id")
    )
    if not viewer_is_admin:
        queryset = queryset.filter(deleted_at__isnull=True).exclude(
            blocked_match & ~Q(user_id=viewer_id)
        )
    order = ("received_at", "id") if from_oldest else ("-received_at", "-id")
    messages = list(queryset.order_by(*order)[:limit])
    if messages:
        user_ids, device_ids = active_block_keys(room=room)
        for message in messages:
            message.sender_blocked = (
                message.user_id in user_ids or message.user_device_id in device_ids
            )
    return messages


# --- Polls ------------------------------------------------------------------------

POLL_PAGE_SIZE_DEFAULT = 10
POLL_PAGE_SIZE_MAX = 100


def poll_list(
    *, room: Chatroom, page_size: int, after: tuple | None = None, include_queued: bool = True
) -> tuple[list, bool]:
    """One page of a room's polls, oldest first, keyset-paged on (created_at, id).

    Queued polls are drafts: viewers' lists leave them out. Returns the polls
    (options prefetched) and whether more follow.
    """
    queryset = poll_queryset().filter(room=room).order_by("created_at", "id")
    if not include_queued:
        queryset = queryset.exclude(status=PollStatus.QUEUED)
    if after is not None:
        created_at, poll_id = after
        queryset = queryset.filter(
            Q(created_at__gt=created_at) | Q(created_at=created_at, id__gt=poll_id)
        )
    polls = list(queryset[: page_size + 1])
    return polls[:page_size], len(polls) > page_size


def poll_get(*, room: Chatroom, poll_id) -> Poll | None:
    return poll_queryset().filter(room=room, pk=poll_id).first()
