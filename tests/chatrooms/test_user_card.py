"""The user card's reads (selectors.console_user_card) and the purge it offers
(services.messages_purge): what they return, what they write, and their query counts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chatrooms import selectors, services
from chatrooms.errors import FailedPrecondition, InvalidArgument
from chatrooms.models import (
    AuditAction,
    AuditLogEntry,
    ChatMessage,
    Chatroom,
    ChatStatus,
    PinnedMessage,
    Role,
)
from chatrooms.realtime import publisher
from moderation.filters import AuditLogFilter
from tests import factories

pytestmark = pytest.mark.django_db

SPAMMER = "viewer-ben"


def said(room, *, minutes_ago: float = 0, user_id: str = SPAMMER, **fields) -> ChatMessage:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return factories.ChatMessageFactory(
        room=room,
        user_id=user_id,
        user_custom_name="Ben" if user_id == SPAMMER else "Ana",
        received_at=at,
        sent_at=at,
        **fields,
    )


def purges():
    return AuditLogEntry.objects.filter(action=AuditAction.MESSAGES_PURGE)


@pytest.fixture
def broadcasts(monkeypatch):
    """What the purge hands the realtime link after commit (the link itself is tested with
    a real broker in tests/realtime/test_events.py)."""
    sent = []
    monkeypatch.setattr(
        publisher, "broadcast", lambda room_id, viewers, admins: sent.append((viewers, admins))
    )
    return sent


# --- messages_purge ----------------------------------------------------------------------


def test_purge_deletes_the_users_recent_messages_in_the_room_only(
    room, system_actor, django_capture_on_commit_callbacks
):
    recent = [said(room, minutes_ago=m) for m in (0.1, 1, 4)]
    old = said(room, minutes_ago=6)
    others = said(room, user_id="viewer-ana")
    elsewhere = said(factories.ChatroomFactory())
    gone = said(room, deleted_at=timezone.now(), deleted_by_id="ana")

    with django_capture_on_commit_callbacks():
        result = services.messages_purge(
            actor=system_actor, room=room, user_id=SPAMMER, minutes=5, reason="spam"
        )

    assert result.deleted_ids == [str(m.pk) for m in recent]  # newest first
    assert result.more is False
    for message in recent:
        message.refresh_from_db()
        assert message.deleted_at is not None
        assert message.deleted_by_id == system_actor.id
    for message in (old, others, elsewhere):
        message.refresh_from_db()
        assert message.deleted_at is None
    gone.refresh_from_db()
    assert gone.deleted_by_id == "ana"  # not deleted twice


def test_purge_writes_one_audit_row_naming_the_count(room, system_actor):
    messages = [said(room) for _ in range(3)]

    services.messages_purge(actor=system_actor, room=room, user_id=SPAMMER, minutes=5, reason="x")

    entry = purges().get()
    assert (entry.target_type, entry.target_id, entry.reason) == ("user", SPAMMER, "x")
    assert entry.after["deleted"] == 3
    assert entry.after["minutes"] == 5
    assert set(entry.after["message_ids"]) == {str(m.pk) for m in messages}


def test_purge_is_bounded_and_a_second_one_takes_the_rest(room, system_actor):
    for minutes in range(5):
        said(room, minutes_ago=minutes / 10)

    first = services.messages_purge(
        actor=system_actor, room=room, user_id=SPAMMER, minutes=5, limit=3
    )
    second = services.messages_purge(
        actor=system_actor, room=room, user_id=SPAMMER, minutes=5, limit=3
    )

    assert (len(first.deleted_ids), first.more) == (3, True)
    assert (len(second.deleted_ids), second.more) == (2, False)
    assert not ChatMessage.objects.filter(deleted_at__isnull=True).exists()
    assert purges().count() == 2


def test_the_batch_size_cannot_be_raised_past_the_maximum(room, system_actor, monkeypatch):
    monkeypatch.setattr(services, "PURGE_MAX_MESSAGES", 2)
    for _ in range(3):
        said(room)

    result = services.messages_purge(
        actor=system_actor, room=room, user_id=SPAMMER, minutes=5, limit=10_000
    )

    assert (len(result.deleted_ids), result.more) == (2, True)


def test_purge_unpins_what_it_deletes_in_the_same_audit_row(room, system_actor):
    pinned = said(room)
    factories.PinnedMessageFactory(room=room, message_id=str(pinned.pk), sender_id=SPAMMER)
    kept_pin = factories.PinnedMessageFactory(room=room)
    version = room.state_version

    result = services.messages_purge(actor=system_actor, room=room, user_id=SPAMMER, minutes=5)

    assert result.unpinned_ids == [str(pinned.pk)]
    assert list(PinnedMessage.objects.all()) == [kept_pin]
    assert Chatroom.objects.get(pk=room.pk).state_version > version  # cached states end
    [entry] = purges()
    assert entry.after["unpinned_message_ids"] == [str(pinned.pk)]


def test_purge_announces_deletes_and_unpins_after_commit_in_one_broadcast(
    room, system_actor, broadcasts, django_capture_on_commit_callbacks
):
    messages = [said(room) for _ in range(2)]
    factories.PinnedMessageFactory(room=room, message_id=str(messages[0].pk))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.messages_purge(actor=system_actor, room=room, user_id=SPAMMER, minutes=5)
    assert broadcasts == []  # nothing before commit
    for callback in callbacks:
        callback()

    [(viewers, admins)] = broadcasts
    assert viewers == admins
    kinds = [event["type"] for event in viewers]
    assert kinds == ["INTERACTION_TYPE_DELETE_MESSAGE"] * 2 + ["INTERACTION_TYPE_UNPIN_MESSAGE"]
    assert {event["delete_message"]["id"] for event in viewers[:2]} == {str(m.pk) for m in messages}


def test_a_purge_with_nothing_to_delete_changes_and_announces_nothing(
    room, system_actor, broadcasts, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = services.messages_purge(actor=system_actor, room=room, user_id=SPAMMER, minutes=5)

    assert result.deleted_ids == []
    assert broadcasts == []
    assert not purges().exists()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"user_id": " ", "minutes": 5}, InvalidArgument),
        ({"user_id": SPAMMER, "minutes": 0}, InvalidArgument),
        ({"user_id": SPAMMER, "minutes": services.PURGE_MAX_MINUTES + 1}, InvalidArgument),
    ],
)
def test_purge_refuses_bad_input(room, system_actor, fields, error):
    said(room)

    with pytest.raises(error):
        services.messages_purge(actor=system_actor, room=room, **fields)

    assert not ChatMessage.objects.filter(deleted_at__isnull=False).exists()
    assert not purges().exists()


def test_an_inactive_room_refuses_a_purge(room, system_actor):
    said(room)
    Chatroom.objects.filter(pk=room.pk).update(status=ChatStatus.INACTIVE)
    room.refresh_from_db()

    with pytest.raises(FailedPrecondition):
        services.messages_purge(actor=system_actor, room=room, user_id=SPAMMER, minutes=5)


# --- console_user_card --------------------------------------------------------------------


def test_the_card_gathers_what_is_known_of_the_user(room, system_actor):
    other_room = factories.ChatroomFactory(label="Workshop")
    here = [said(room, minutes_ago=m) for m in (2, 1)]
    there = said(other_room, minutes_ago=3)
    said(room, user_id="viewer-ana")
    factories.PinnedMessageFactory(room=room, message_id=str(here[0].pk))
    services.user_block(actor=system_actor, room=other_room, user_id=SPAMMER, reason="flood")
    services.user_unblock(actor=system_actor, room=other_room, user_id=SPAMMER)
    services.user_block(
        actor=system_actor, room=room, user_id=SPAMMER, custom_name="Ben", reason="spam"
    )
    factories.ChatMessageFactory(room=room, user_id="", text="system")

    card = selectors.console_user_card(room=room, user_id=SPAMMER)

    assert card.custom_name == "Ben"
    assert card.role_label == Role.VIEWER.label
    assert [m.pk for m in card.room_messages] == [here[1].pk, here[0].pk]
    assert [m.pk for m in card.other_messages] == [there.pk]
    assert card.other_messages[0].room.label == "Workshop"
    assert [b.room_id for b in card.blocks] == [room.pk, other_room.pk]
    assert card.active_block.reason == "spam"
    assert [e.action for e in card.audit_entries] == [
        AuditAction.USER_BLOCK,
        AuditAction.USER_UNBLOCK,
        AuditAction.USER_BLOCK,
    ]
    assert card.pinned_ids == {str(here[0].pk)}
    assert card.device_ids[0] == here[1].user_device_id
    assert card.known


def test_the_role_comes_from_the_users_live_session(room):
    from chatrooms import auth

    auth.chatroom_token_issue(
        room=room, role=Role.ADMIN, subject=SPAMMER, device_id="d-1", name="Ben the host"
    )

    card = selectors.console_user_card(room=room, user_id=SPAMMER)

    assert (card.role_label, card.custom_name, card.device_ids) == (
        "Admin",
        "Ben the host",
        ["d-1"],
    )


def test_a_card_of_a_stranger_is_empty_not_an_error(room):
    card = selectors.console_user_card(room=room, user_id="nobody")

    assert not card.known
    assert card.role_label == ""


def test_the_cards_lists_are_bounded(room):
    for minutes in range(selectors.USER_CARD_LIMIT + 5):
        said(room, minutes_ago=minutes)

    card = selectors.console_user_card(room=room, user_id=SPAMMER)

    assert len(card.room_messages) == selectors.USER_CARD_LIMIT
    assert card.room_messages[0].received_at > card.room_messages[-1].received_at


@pytest.mark.parametrize("n", [1, 60])
def test_the_card_runs_a_fixed_number_of_queries(room, system_actor, n, django_assert_num_queries):
    other_room = factories.ChatroomFactory()
    for _ in range(n):
        message = said(room)
        factories.PinnedMessageFactory(room=room, message_id=str(message.pk))
        said(other_room)
        factories.BlockedUserFactory(room=other_room, user_id=SPAMMER, unblocked_at=timezone.now())
        services.audit_record(
            actor=system_actor,
            action=AuditAction.USER_BLOCK,
            room=other_room,
            target_type="user",
            target_id=SPAMMER,
        )

    # 1 the live session, 2 messages in the room, 3 in other rooms (room joined),
    # 4 blocks (room joined), 5 audit entries (room joined), 6 which shown ones are pinned.
    with django_assert_num_queries(6):
        card = selectors.console_user_card(room=room, user_id=SPAMMER)
        for message in card.other_messages:
            assert message.room.label is not None
        for block in card.blocks:
            assert block.room.pk
        for entry in card.audit_entries:
            assert entry.room.pk
    assert len(card.room_messages) == min(n, selectors.USER_CARD_LIMIT)


def test_the_last_action_on_a_target_is_the_newest(room, system_actor):
    for name in ("ana", "bo"):
        services.audit_record(
            actor=system_actor.__class__.system(name),
            action=AuditAction.MESSAGE_UNPIN,
            room=room,
            target_type="message",
            target_id="m-1",
        )

    entry = selectors.console_last_action(
        room=room, actions=[AuditAction.MESSAGE_UNPIN], target_id="m-1"
    )

    assert entry.actor_name == "bo"


def test_the_audit_log_filters_by_the_target(room, system_actor):
    services.user_block(actor=system_actor, room=room, user_id=SPAMMER)
    services.user_block(actor=system_actor, room=room, user_id="viewer-ana")

    rows = AuditLogFilter({"target": SPAMMER}, queryset=selectors.audit_log_queryset()).qs

    assert [row.target_id for row in rows] == [SPAMMER]
