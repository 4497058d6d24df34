"""Reads with a query shape or a visibility rule. Each returns what its caller
renders with the queries already made: no lazy loads in loops."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.db import connection
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.db.models.query import RawQuerySet
from django.utils import timezone

from chatrooms import caching
from chatrooms.compiled import CompiledQuery
from chatrooms.models import (
    ApiKey,
    AuditLogEntry,
    BlockedUser,
    ChatMessage,
    Chatroom,
    ChatSession,
    CustomCounter,
    PinnedMessage,
    Poll,
    PollOption,
    PollStatus,
    Role,
    RoomLockdown,
    RoomModerator,
)


@dataclass
class ChatroomState:
    """Everything the `chat.v1.Chat` JSON shows for one room."""

    room: Chatroom
    blocked_users: list = field(default_factory=list)  # rows with BlockedUser's fields
    pinned_messages: list = field(default_factory=list)  # rows with PinnedMessage's fields
    active_poll: Poll | None = None
    custom_counters: list[CustomCounter] = field(default_factory=list)
    next_block_expiry: datetime | None = None  # when the state changes without a write


def poll_queryset():
    return Poll.objects.prefetch_related(
        Prefetch("options", queryset=PollOption.objects.order_by("position", "id"))
    )


ACTION_TAKER_FIELDS = (
    "action_taker_id",
    "action_taker_device_id",
    "action_taker_custom_name",
    "action_taker_is_admin",
    "action_taker_is_guest",
)
BLOCK_FIELDS = ("user_id", "device_id", "custom_name", "expires_at", *ACTION_TAKER_FIELDS)
PIN_FIELDS = (
    "message_id",
    "message_text",
    "sender_id",
    "sender_device_id",
    "sender_custom_name",
    *ACTION_TAKER_FIELDS,
)


def chatroom_get_state(*, room: Chatroom) -> ChatroomState:
    """The full room state in five queries whatever its size: active blocks,
    pins, counters, the active poll and that poll's options.

    Blocks and pins come as named rows of just the shown fields: a hot room
    has thousands of blocks, and model instances cost ten times as much.
    """
    active_polls = list(poll_queryset().filter(room=room, status=PollStatus.ACTIVE)[:1])
    blocks = list(
        BlockedUser.objects.active()
        .filter(room=room)
        .order_by("blocked_at", "id")
        .values_list(*BLOCK_FIELDS, named=True)
    )
    expiries = [block.expires_at for block in blocks if block.expires_at is not None]
    return ChatroomState(
        room=room,
        blocked_users=blocks,
        pinned_messages=list(
            PinnedMessage.objects.filter(room=room)
            .order_by("pinned_at", "id")
            .values_list(*PIN_FIELDS, named=True)
        ),
        active_poll=active_polls[0] if active_polls else None,
        custom_counters=list(CustomCounter.objects.filter(room=room)),
        next_block_expiry=min(expiries, default=None),
    )


ROOM_PAGE_SIZE_DEFAULT = 10
ROOM_PAGE_SIZE_MAX = 100
# Pages reach this many of the newest rooms: an offset is read past row by row, so a
# deep page costs what it skips (433 ms at 500,000; bench/room_list.py).
ROOM_LIST_MAX_OFFSET = 10_000


def chatroom_list_states(*, page: int, page_size: int) -> tuple[list[ChatroomState], bool]:
    """One page of rooms, newest first, each with its full state, and whether a next
    page exists: six queries whatever the page holds (the rooms, one more than the page
    to know; then, for all of them at once, active blocks, pins, counters, active polls
    and their options). No total count: it would read every room (docs/api.md)."""
    offset = (page - 1) * page_size
    rooms = list(Chatroom.objects.order_by("-created_at", "-id")[offset : offset + page_size + 1])
    has_next = len(rooms) > page_size
    rooms = rooms[:page_size]
    if not rooms:
        return [], has_next
    states = {room.pk: ChatroomState(room=room) for room in rooms}
    blocks = (
        BlockedUser.objects.active()
        .filter(room__in=states)
        .order_by("blocked_at", "id")
        .values_list("room_id", *BLOCK_FIELDS, named=True)
    )
    for block in blocks:
        state = states[block.room_id]
        state.blocked_users.append(block)
        if block.expires_at is not None:
            state.next_block_expiry = min(
                block.expires_at, state.next_block_expiry or block.expires_at
            )
    pins = (
        PinnedMessage.objects.filter(room__in=states)
        .order_by("pinned_at", "id")
        .values_list("room_id", *PIN_FIELDS, named=True)
    )
    for pin in pins:
        states[pin.room_id].pinned_messages.append(pin)
    for counter in CustomCounter.objects.filter(room__in=states):
        states[counter.room_id].custom_counters.append(counter)
    for poll in poll_queryset().filter(room__in=states, status=PollStatus.ACTIVE):
        states[poll.room_id].active_poll = poll
    return [states[room.pk] for room in rooms], has_next


# --- Messages ---------------------------------------------------------------------

MESSAGE_LIMIT_DEFAULT = 10
MESSAGE_LIMIT_MAX = 100


def active_block_keys(
    *, room: Chatroom, among_users=None, among_devices=None
) -> tuple[set[str], set[str]]:
    """The (user ids, device ids) blocked in a room right now, in one query;
    only those among the given users and devices when they are given."""
    user_ids: set[str] = set()
    device_ids: set[str] = set()
    blocks = BlockedUser.objects.active().filter(room=room)
    if among_users is not None:
        blocks = blocks.filter(Q(user_id__in=among_users) | Q(device_id__in=among_devices or ()))
    for user_id, device_id in blocks.values_list("user_id", "device_id"):
        user_ids.add(user_id)
        if device_id:
            device_ids.add(device_id)
    return user_ids, device_ids


# A room's active blocks and enabled counters, kept per state_version in this process:
# every block, unblock and counter change bumps it in its own transaction
# (services._state_changed), and a timed block's end is checked against the clock here.
BLOCK_INDEX_MAX = 20_000  # rooms with more active blocks are asked each time
_block_indexes = caching.PerVersion(rooms=1024)
_counter_keys = caching.PerVersion(rooms=4096)
_NO_INDEX = object()


@dataclass(frozen=True)
class BlockIndex:
    """A room's active blocks at one state version: user id or device id -> when the
    block ends (None: never)."""

    users: dict
    devices: dict

    def blocked(self, user_id: str, device_id: str = "", *, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        for ends in (self.users.get(user_id, False), self.devices.get(device_id, False)):
            if ends is None or (ends is not False and ends > now):
                return True
        return False


def room_block_index(room: Chatroom) -> BlockIndex | None:
    """The room's active blocks, in one query per state version and process; None for a
    room with more than BLOCK_INDEX_MAX of them (callers then ask the database)."""
    index = _block_indexes.get(room.pk, room.state_version)
    if index is None:
        rows = list(
            BlockedUser.objects.active()
            .filter(room=room)
            .values_list("user_id", "device_id", "expires_at")[: BLOCK_INDEX_MAX + 1]
        )
        if len(rows) > BLOCK_INDEX_MAX:
            index = _NO_INDEX
        else:
            users, devices = {}, {}
            for user_id, device_id, expires_at in rows:
                ends = None if expires_at is None else expires_at.timestamp()
                users[user_id] = ends
                if device_id:  # several blocks may name one device: the longest counts
                    before = devices.get(device_id, False)
                    longest = ends is None or before is None
                    devices[device_id] = None if longest else max(ends, before or 0)
            index = BlockIndex(users=users, devices=devices)
        _block_indexes.set(room.pk, room.state_version, index)
    return None if index is _NO_INDEX else index


def enabled_counter_keys(room: Chatroom) -> frozenset[str]:
    """The keys of the room's enabled counters: one query per state version and process
    (services.custom_counters_update bumps it)."""
    keys = _counter_keys.get(room.pk, room.state_version)
    if keys is None:
        keys = frozenset(
            CustomCounter.objects.filter(room=room, disabled=False).values_list("key", flat=True)
        )
        _counter_keys.set(room.pk, room.state_version, keys)
    return keys


def viewer_page_queryset(
    *, room: Chatroom, viewer_id: str, order: Sequence[str], batch: int, filters: Q | None = None
) -> QuerySet | RawQuerySet:
    """At most ``batch`` of the messages a non-admin viewer may see, in ``order``, in
    one query: the unflagged ones (``chatrooms_msg_visible_idx``) and the viewer's own
    flagged ones (``chatrooms_msg_sender_idx``), each arm limited before a UNION ALL.

    Neither arm reads past ``batch`` rows, however many flagged messages a blocked
    flood left in the way, and both are index scans in ``order`` without planner
    statistics (the partial indexes match the arms' conditions exactly). SQLite
    cannot LIMIT the arms of a union as Django writes it, so there the union is
    written out around the ORM's SQL of each arm (a raw query: slower to turn into
    models, which PostgreSQL, the production database, does not pay).
    """
    shown = ChatMessage.objects.filter(filters or Q(), room=room, deleted_at__isnull=True)
    visible = shown.filter(sender_hidden=False).order_by(*order)[:batch]
    if not viewer_id:
        return visible
    own = shown.filter(sender_hidden=True, user_id=viewer_id).order_by(*order)[:batch]
    if connection.features.supports_slicing_ordering_in_compound:
        return visible.union(own, all=True).order_by(*order)[:batch]
    visible_sql, visible_params = visible.query.sql_with_params()
    own_sql, own_params = own.query.sql_with_params()
    quote = connection.ops.quote_name
    order_sql = ", ".join(
        f"{quote(name.lstrip('-'))} {'DESC' if name.startswith('-') else 'ASC'}" for name in order
    )
    return ChatMessage.objects.raw(
        f"SELECT * FROM ({visible_sql}) AS visible UNION ALL "  # noqa: S608 (ORM-built SQL)
        f"SELECT * FROM ({own_sql}) AS own ORDER BY {order_sql} LIMIT %s",
        (*visible_params, *own_params, batch),
    )


_history_pages = CompiledQuery(ChatMessage)


def _history_page(values: dict, *, from_oldest: bool, viewer_is_admin: bool, batch: int):
    """One batch of ``message_list`` as a queryset (``values`` as message_list builds
    them), compiled once per shape by ``_history_pages``."""
    page = Q(received_at__gte=values["since"])
    if "before" in values:
        page &= Q(received_at__lt=values["before"])
    if "after" in values:
        page &= Q(received_at__gt=values["after"])
    if "types" in values:
        page &= Q(type__in=values["types"])
    if from_oldest:
        order, after_row = ("received_at", "id"), "gt"
    else:
        order, after_row = ("-received_at", "-id"), "lt"
    if "last_at" in values:
        page &= Q(**{f"received_at__{after_row}": values["last_at"]}) | Q(
            received_at=values["last_at"], **{f"id__{after_row}": values["last_id"]}
        )
    room = Chatroom(pk=values["room"])
    if viewer_is_admin:
        return ChatMessage.objects.filter(page, room=room).order_by(*order)[:batch]
    return viewer_page_queryset(
        room=room, viewer_id=values.get("viewer", ""), order=order, batch=batch, filters=page
    )


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

    For viewers the rule is applied in SQL from ``ChatMessage.sender_hidden``,
    which the block services keep (``viewer_page_queryset``): a page costs the
    same with a blocked sender's 100,000 messages at the newest end as without.
    The active blocks of the page's senders are then looked up (in the room's
    block index, ``room_block_index``, one query per state version; or two index
    probes per sender in a room with very many blocks) to set ``sender_blocked``,
    and they also drop any row the flag missed (a send that raced a block):
    correctness never rests on the flag alone. Only when such rows thin a batch out
    does the next, larger batch continue after it; usually a page is one query, its
    SQL compiled once per shape and process (``chatrooms.compiled``).
    """
    # Messages older than the room's ttl have left history, deleted or not yet
    # (chatrooms.housekeeping deletes them): a bound on the indexes' received_at column.
    values = {"room": room.pk, "since": timezone.now() - room.message_ttl}
    if before_at is not None:
        values["before"] = before_at
    if after_at is not None:
        values["after"] = after_at
    if types:
        values["types"] = tuple(dict.fromkeys(types))
    if viewer_id and not viewer_is_admin:
        values["viewer"] = viewer_id
    messages: list[ChatMessage] = []
    batch, last = limit, None
    index = _NO_INDEX  # the active blocks, cached per state version: read after a page
    while len(messages) < limit:
        if last is not None:
            values |= {"last_at": last.received_at, "last_id": last.id}
        # Everything that changes the page's SQL text (the values are its parameters).
        shape = (from_oldest, viewer_is_admin, batch, *sorted(values), len(values.get("types", ())))
        build = partial(
            _history_page, from_oldest=from_oldest, viewer_is_admin=viewer_is_admin, batch=batch
        )
        rows = _history_pages.rows(shape, values, build)
        if not rows:
            break
        if index is _NO_INDEX:
            index = room_block_index(room)
        if index is None:
            user_ids, device_ids = active_block_keys(
                room=room,
                among_users={m.user_id for m in rows},
                among_devices={m.user_device_id for m in rows if m.user_device_id},
            )
        now = time.time()
        for message in rows:
            if index is not None:
                message.sender_blocked = index.blocked(
                    message.user_id, message.user_device_id, now=now
                )
            else:
                message.sender_blocked = (
                    message.user_id in user_ids or message.user_device_id in device_ids
                )
            if viewer_is_admin or not message.sender_blocked or message.user_id == viewer_id:
                messages.append(message)
                if len(messages) == limit:
                    break
        if len(rows) < batch:
            break
        last, batch = rows[-1], min(batch * 4, 1000)
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


_active_polls = caching.PerVersion(rooms=1024)


def poll_for_vote(*, room: Chatroom, poll_id) -> Poll | None:
    """The poll a vote names, with its options, its ``room`` the given one. An active
    poll is kept per state version of the room and process: starting, closing and
    archiving a poll bump the version, and an active poll's options cannot change
    (only a queued poll can be edited). Any other poll is read each time; the vote
    itself re-reads the status under a share lock (``services.poll_vote``)."""
    key = (room.pk, poll_id)
    poll = _active_polls.get(key, room.state_version)
    if poll is None:
        poll = poll_get(room=room, poll_id=poll_id)
        if poll is None:
            return None
        if poll.status == PollStatus.ACTIVE:
            _active_polls.set(key, room.state_version, poll)
    poll = copy.copy(poll)  # each request its own instance; the options are shared, read-only
    poll.room = room
    return poll


# --- Console ------------------------------------------------------------------------
# Reads of the staff moderation console (the `moderation` app). Lists are
# keyset-paged: no COUNT over tables with millions of rows, and page N costs
# what page 1 costs.

CONSOLE_PAGE_SIZE = 50


@dataclass
class KeysetPage:
    """One page of rows and the keys to reach its neighbours.

    ``next_after`` is the sort key of the last row when more rows follow;
    ``prev_before`` is the sort key of the first row when rows precede it.
    """

    items: list
    next_after: tuple | None = None
    prev_before: tuple | None = None


def _sort_key(item, order: Sequence[str]) -> tuple:
    return tuple(getattr(item, name.lstrip("-")) for name in order)


def _keyset_condition(order: Sequence[str], values: Sequence, *, forward: bool) -> Q:
    """Rows after (``forward``) or before ``values`` in ``order``.

    Every field of ``order`` sorts the same way, and the last one is unique.
    """
    descending = order[0].startswith("-")
    lookup = "lt" if descending == forward else "gt"
    condition = Q()
    for index, name in enumerate(order):
        step = Q(**{f"{name.lstrip('-')}__{lookup}": values[index]})
        for previous, value in zip(order[:index], values[:index], strict=True):
            step &= Q(**{previous.lstrip("-"): value})
        condition |= step
    return condition


def keyset_page(
    queryset: QuerySet,
    *,
    order: Sequence[str],
    after: Sequence | None = None,
    before: Sequence | None = None,
    size: int = CONSOLE_PAGE_SIZE,
) -> KeysetPage:
    """One page of ``queryset`` in ``order``, in one query.

    Without keys it is the first page; ``after`` pages forward from a row's
    key, ``before`` pages back from one.
    """
    if before is not None:
        reverse = [name[1:] if name.startswith("-") else f"-{name}" for name in order]
        rows = list(
            queryset.filter(_keyset_condition(order, before, forward=False)).order_by(*reverse)[
                : size + 1
            ]
        )
        has_more_before = len(rows) > size
        items = rows[:size][::-1]
        return KeysetPage(
            items=items,
            next_after=_sort_key(items[-1], order) if items else None,
            prev_before=_sort_key(items[0], order) if items and has_more_before else None,
        )
    if after is not None:
        queryset = queryset.filter(_keyset_condition(order, after, forward=True))
    rows = list(queryset.order_by(*order)[: size + 1])
    items = rows[:size]
    return KeysetPage(
        items=items,
        next_after=_sort_key(items[-1], order) if len(rows) > size else None,
        prev_before=_sort_key(items[0], order) if items and after is not None else None,
    )


# Room list sort orders: every field sorts the same way and ends with the primary key.
ROOM_SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "label": ("label", "id"),
    "-label": ("-label", "-id"),
}


def _count_per_room(queryset: QuerySet) -> Subquery:
    counted = (
        queryset.filter(room=OuterRef("pk"))
        .order_by()
        .values("room")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(counted), 0)


def console_room_queryset(*, rooms: QuerySet | None = None) -> QuerySet:
    """Rooms for the console list, each annotated in the same query with
    ``blocked_count`` (active blocks), ``pinned_count``, ``active_poll_question``
    and ``last_message_at``. ``rooms`` is where to start from (every room by default):
    the console passes the rooms the staff user may see, then filters the result
    (``moderation.filters.RoomFilter``) and pages it (``keyset_page``).
    """
    active_poll = Poll.objects.filter(room=OuterRef("pk"), status=PollStatus.ACTIVE)
    return (Chatroom.objects.all() if rooms is None else rooms).annotate(
        blocked_count=_count_per_room(BlockedUser.objects.active()),
        pinned_count=_count_per_room(PinnedMessage.objects.all()),
        active_poll_question=Subquery(active_poll.values("question")[:1]),
        last_message_at=Subquery(
            ChatMessage.objects.filter(room=OuterRef("pk"))
            .order_by("-received_at")
            .values("received_at")[:1]
        ),
    )


def console_message_feed(
    *,
    room: Chatroom,
    before: tuple | None = None,
    limit: int = CONSOLE_PAGE_SIZE,
    pinned_ids: set[str] | None = None,
) -> tuple[list[ChatMessage], bool]:
    """A room's messages for staff, newest first, deleted ones included.

    ``before`` is the (received_at, id) of the last message shown. Each message
    gets ``sender_blocked`` (one query for the active blocks of just the senders
    on the page, so a room with thousands of blocks costs what a quiet one does)
    and ``is_pinned`` (from ``pinned_ids``, else one more query). Returns the
    messages and whether older ones exist.
    """
    queryset = ChatMessage.objects.filter(room=room)
    if before is not None:
        queryset = queryset.filter(_keyset_condition(("-received_at", "-id"), before, forward=True))
    rows = list(queryset.order_by("-received_at", "-id")[: limit + 1])
    messages = rows[:limit]
    if pinned_ids is None:
        pinned_ids = set(
            PinnedMessage.objects.filter(room=room).values_list("message_id", flat=True)
        )
    blocked_users: set[str] = set()
    blocked_devices: set[str] = set()
    if messages:
        senders = {m.user_id for m in messages if m.user_id}
        devices = {m.user_device_id for m in messages if m.user_device_id}
        for user_id, device_id in (
            BlockedUser.objects.active()
            .filter(room=room)
            .filter(Q(user_id__in=senders) | Q(device_id__in=devices))
            .values_list("user_id", "device_id")
        ):
            blocked_users.add(user_id)
            if device_id:
                blocked_devices.add(device_id)
    for message in messages:
        message.is_pinned = str(message.pk) in pinned_ids
        message.sender_blocked = (
            message.user_id in blocked_users or message.user_device_id in blocked_devices
        )
    return messages, len(rows) > limit


# The room page's blocked users: newest first.
BLOCKED_ORDER = ("-blocked_at", "-id")


def console_blocked_users(*, room: Chatroom) -> QuerySet:
    """A room's active blocks. The console filters them
    (``moderation.filters.BlockedUserFilter``) and shows the first few in
    ``BLOCKED_ORDER`` (``keyset_page``)."""
    return BlockedUser.objects.active().filter(room=room)


def console_room_polls(*, room: Chatroom) -> list[Poll]:
    """Every poll of a room (at most MAX_POLLS_PER_ROOM), oldest first, options
    prefetched: two queries."""
    return list(poll_queryset().filter(room=room).order_by("created_at", "id"))


def console_active_poll(*, room: Chatroom) -> Poll | None:
    """The room's active poll with its options, or None: two queries at most."""
    return poll_queryset().filter(room=room, status=PollStatus.ACTIVE).first()


def audit_log_queryset(*, entries: QuerySet | None = None) -> QuerySet:
    """Audit rows with their room joined. ``entries`` is where to start from (every
    entry by default): the console passes what the user may read, then filters them
    (``moderation.filters.AuditLogFilter``) and pages or exports them."""
    return (AuditLogEntry.objects.all() if entries is None else entries).select_related("room")


def api_key_queryset() -> QuerySet:
    return ApiKey.objects.select_related("created_by")


def room_lockdown(*, room: Chatroom) -> RoomLockdown:
    """The room's lockdown (its bundle, and its state while on); an unsaved one with the
    default bundle if nobody has used or edited it yet. One query."""
    return RoomLockdown.objects.filter(room=room).first() or RoomLockdown(room=room)


def console_pinned_messages(*, room: Chatroom) -> list[PinnedMessage]:
    return list(PinnedMessage.objects.filter(room=room).order_by("pinned_at", "id"))


def console_counters(*, room: Chatroom) -> list[CustomCounter]:
    """Every counter of a room, disabled ones included, in display order."""
    return list(CustomCounter.objects.filter(room=room).order_by("disabled", "position", "id"))


def console_message_get(*, room: Chatroom, message_id) -> ChatMessage | None:
    """A stored message of the room by its id (any string), or None."""
    try:
        message_id = uuid.UUID(str(message_id))
    except ValueError:
        return None
    return ChatMessage.objects.filter(room=room, pk=message_id).first()


# --- The user card ---------------------------------------------------------------------

USER_CARD_LIMIT = 20


@dataclass
class UserCard:
    """What the console knows of one chat user (a token subject), seen from a room.

    Every list is bounded (``USER_CARD_LIMIT``) and newest first; the card is six
    queries whatever the user's history.
    """

    room: Chatroom
    user_id: str
    custom_name: str = ""
    device_ids: list[str] = field(default_factory=list)
    role: str = ""  # Role value of their latest session in the room, if any
    is_admin: bool = False
    is_guest: bool = False
    room_messages: list[ChatMessage] = field(default_factory=list)
    other_messages: list[ChatMessage] = field(default_factory=list)  # room joined
    blocks: list[BlockedUser] = field(default_factory=list)  # every room, room joined
    audit_entries: list[AuditLogEntry] = field(default_factory=list)  # room joined
    active_block: BlockedUser | None = None  # in this room
    pinned_ids: set[str] = field(default_factory=set)  # of room_messages

    @property
    def role_label(self) -> str:
        """Their role: their live session's, else as their latest message was sent."""
        if self.role:
            return Role(self.role).label
        if self.is_admin or self.is_guest:
            return Role.ADMIN.label if self.is_admin else Role.GUEST.label
        return Role.VIEWER.label if self.room_messages or self.other_messages else ""

    @property
    def known(self) -> bool:
        """Whether anything at all is stored about them."""
        return any(
            (self.role, self.room_messages, self.other_messages, self.blocks, self.audit_entries)
        )


def console_user_card(
    *,
    room: Chatroom,
    user_id: str,
    limit: int = USER_CARD_LIMIT,
    rooms: QuerySet | None = None,
) -> UserCard:
    """The user card: their latest live session in the room, their messages in the room and
    in other rooms, their blocks (active and past, every room), the audit entries that
    acted on them, and which of the room messages are pinned. Six queries, each an index
    probe (``chatrooms_msg_user_idx``, ``chatrooms_block_user_idx``,
    ``chatrooms_audit_target_idx``, the session's subject index). ``rooms``, when given,
    bounds what is shown of other rooms to those (the rooms the staff user may see)."""
    card = UserCard(room=room, user_id=user_id)
    seen = {} if rooms is None else {"room__in": rooms.values("pk")}
    # Live sessions only (``chatrooms_session_user_idx``); ended ones show in the audit.
    session = (
        ChatSession.objects.filter(room=room, subject=user_id, revoked_at__isnull=True)
        .order_by("-created_at", "-id")
        .only("role", "name", "device_id")
        .first()
    )
    mine = ChatMessage.objects.filter(user_id=user_id).order_by("-received_at", "-id")
    card.room_messages = list(mine.filter(room=room)[:limit])
    card.other_messages = list(
        mine.exclude(room=room).filter(**seen).select_related("room")[:limit]
    )
    card.blocks = list(
        BlockedUser.objects.filter(user_id=user_id, **seen)
        .select_related("room")
        .order_by("-blocked_at", "-id")[:limit]
    )
    card.audit_entries = list(
        AuditLogEntry.objects.filter(target_type="user", target_id=user_id, **seen)
        .select_related("room")
        .order_by("-created_at", "-id")[:limit]
    )
    card.active_block = next((b for b in card.blocks if b.room_id == room.pk and b.is_active), None)
    if card.room_messages:
        card.pinned_ids = set(
            PinnedMessage.objects.filter(
                room=room, message_id__in=[str(m.pk) for m in card.room_messages]
            ).values_list("message_id", flat=True)
        )
    latest = next(iter(card.room_messages + card.other_messages), None)
    if session is not None:
        card.role = session.role
        card.custom_name = session.name
    if latest is not None:
        card.custom_name = card.custom_name or latest.user_custom_name
        card.is_admin, card.is_guest = latest.user_is_admin, latest.user_is_guest
    for block in card.blocks:
        card.custom_name = card.custom_name or block.custom_name
    devices = [session.device_id if session else ""]
    devices += [m.user_device_id for m in card.room_messages + card.other_messages]
    devices += [b.device_id for b in card.blocks]
    card.device_ids = list(dict.fromkeys(d for d in devices if d))[:5]
    return card


def console_last_action(
    *, room: Chatroom, actions: Sequence[str], target_id: str
) -> AuditLogEntry | None:
    """The newest audit entry of one of ``actions`` on ``target_id`` in a room: who
    did it first, when a second moderator tries the same."""
    return (
        AuditLogEntry.objects.filter(room=room, action__in=actions, target_id=str(target_id))
        .order_by("-created_at", "-id")
        .first()
    )


def console_last_block(*, room: Chatroom, user_id: str) -> BlockedUser | None:
    """The newest block of a user in a room, whatever its state."""
    blocks = BlockedUser.objects.filter(room=room, user_id=user_id)
    return blocks.order_by("-blocked_at", "-id").first()


# --- Room moderators (issue 14) -------------------------------------------------------


def room_moderators(*, room: Chatroom) -> list[RoomModerator]:
    """Who is assigned to moderate a room, by username; one query."""
    return list(
        RoomModerator.objects.filter(room=room)
        .select_related("user")
        .order_by("user__username", "user_id")
    )


def assignable_moderators(*, room: Chatroom) -> QuerySet:
    """Active staff holding the Moderator permission (through a group or their own) who
    are not assigned to ``room`` yet. Room admins and superusers are left out: they
    see every room whatever is assigned."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    def holders(codename: str) -> Q:
        perm = Permission.objects.filter(content_type__app_label="chatrooms", codename=codename)
        return Q(groups__permissions__in=perm) | Q(user_permissions__in=perm)

    users = get_user_model().objects.filter(is_active=True, is_staff=True, is_superuser=False)
    moderators = users.filter(holders("moderate_chatroom")).values("pk")
    admins = users.filter(holders("administer_chatroom")).values("pk")
    assigned = RoomModerator.objects.filter(room=room).values("user_id")
    return (
        users.filter(pk__in=moderators)
        .exclude(pk__in=admins)
        .exclude(pk__in=assigned)
        .order_by("username")
    )
