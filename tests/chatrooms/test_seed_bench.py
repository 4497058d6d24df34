"""The benchmark seed: the counts it promises and the hot room's shape, on
SQLite (bulk_create) and PostgreSQL (INSERT ... SELECT)."""

import pytest
from django.core.management import CommandError, call_command

from chatrooms import selectors, services
from chatrooms.management.commands.seed_bench import (
    HOT_COUNTER_KEYS,
    HOT_PINS,
    HOT_POLL_OPTIONS,
    OPTIONS_PER_POLL,
    ROOM_COUNTER_KEYS,
    BenchCounts,
)
from chatrooms.models import (
    AuditLogEntry,
    BlockedUser,
    ChatMessage,
    Chatroom,
    CustomCounter,
    PinnedMessage,
    Poll,
    PollOption,
    PollStatus,
)

SCALE = 0.001
HOT_BLOCKED = 300


@pytest.fixture
def seeded(db, capsys):
    call_command("seed_bench", scale=SCALE, hot_blocked=HOT_BLOCKED, print_hot_room=True)
    out, err = capsys.readouterr()
    return Chatroom.objects.get(pk=out.strip()), err


def test_counts(seeded):
    counts = BenchCounts.at(SCALE, hot_blocked=HOT_BLOCKED)
    assert Chatroom.objects.count() == counts.rooms + 1
    assert ChatMessage.objects.count() == counts.messages + counts.hot_messages
    assert BlockedUser.objects.count() == counts.blocked + counts.hot_blocked
    assert PinnedMessage.objects.count() == counts.pins + HOT_PINS
    assert Poll.objects.count() == counts.polls + 1
    assert PollOption.objects.count() == counts.polls * OPTIONS_PER_POLL + HOT_POLL_OPTIONS
    assert CustomCounter.objects.count() == counts.rooms * len(ROOM_COUNTER_KEYS) + len(
        HOT_COUNTER_KEYS
    )
    # The seeded rows, plus the hot room's own: created, poll created, poll started.
    assert AuditLogEntry.objects.count() == counts.audit + 3


def test_default_scale_is_the_issue_data_set():
    counts = BenchCounts.at(1)
    assert counts.rooms + 1 == 100_000
    assert counts.messages + counts.hot_messages == 1_000_000
    assert (counts.blocked, counts.polls, counts.audit, counts.hot_blocked) == (
        100_000,
        10_000,
        200_000,
        5000,
    )


def test_hot_room_shape(seeded):
    room, _ = seeded
    state = selectors.chatroom_get_state(room=room)
    assert len(state.blocked_users) == HOT_BLOCKED
    assert len(state.pinned_messages) == HOT_PINS
    assert [c.key for c in state.custom_counters] == HOT_COUNTER_KEYS
    assert all(c.value == 0 for c in state.custom_counters)
    assert state.active_poll is not None
    assert len(state.active_poll.options.all()) == HOT_POLL_OPTIONS
    pinned = {pin.message_id for pin in state.pinned_messages}
    assert ChatMessage.objects.filter(room=room, pk__in=pinned).count() == HOT_PINS


def test_bulk_rows_keep_the_rules(seeded):
    # At most one active poll per room; every active block is unique per user and room.
    active = Poll.objects.filter(status=PollStatus.ACTIVE)
    assert active.count() == active.values("room").distinct().count()
    assert active.count() >= 2  # the hot room's, and some bulk rooms'
    blocks = BlockedUser.objects.filter(unblocked_at__isnull=True)
    assert blocks.count() == blocks.values("room", "user_id").distinct().count()
    assert BlockedUser.objects.filter(unblocked_at__isnull=False).exists()
    # Messages of blocked senders are flagged as the services would have flagged them.
    hidden = ChatMessage.objects.filter(sender_hidden=True)
    assert hidden.exists()
    assert not hidden.filter(user_blocked=False, room__label="Bench hot room").exists()
    assert services.messages_hide_for_active_blocks() == 0


def test_timings_are_reported(seeded):
    _, report = seeded
    assert "messages" in report
    assert "total" in report


def test_refuses_a_database_with_rooms_unless_told(seeded):
    with pytest.raises(CommandError, match="--yes"):
        call_command("seed_bench", scale=SCALE, hot_blocked=10)
    call_command("seed_bench", scale=SCALE, hot_blocked=10, yes=True, print_hot_room=True)
    counts = BenchCounts.at(SCALE, hot_blocked=HOT_BLOCKED)
    assert Chatroom.objects.count() == 2 * (counts.rooms + 1)
