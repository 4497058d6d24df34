"""Lockdown (issue 14, room protection): one click applies the room's saved bundle
(slow mode, mute, hold new users), records who and when, and one click restores the
settings from before. Holding new users is a rule of ``services.messages_send``, so
the HTTP API and the realtime worker both follow it."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from chatrooms import services
from chatrooms.auth import Actor
from chatrooms.errors import RETRY_INFO_TYPE, FailedPrecondition, InvalidArgument
from chatrooms.models import (
    LOCKDOWN_DEFAULT_HOLD_MINUTES,
    LOCKDOWN_DEFAULT_SLOW_MODE_SECONDS,
    AuditAction,
    AuditLogEntry,
    ChatMessage,
    Chatroom,
    ChatSession,
    ChatStatus,
    InteractionType,
    RoomLockdown,
    SlowModeSend,
)
from chatrooms.realtime.ingest import Sender
from chatrooms.realtime.worker import Received, Worker
from tests import factories
from tests.chatrooms.helpers import assert_status

pytestmark = pytest.mark.django_db

B = "/bv/chatroom/v1"
HELD = "NEW_USER_HELD"


def text(words="hello"):
    return {"type": InteractionType.TEXT, "text_message": {"text": words}}


def send(client, body=None):
    return client.post(f"{B}/chatrooms/messages", body or text(), format="json")


def reason(body) -> str:
    return next(d for d in body["details"] if d["@type"].endswith("ErrorInfo"))["reason"]


def settings_of(room) -> dict:
    room = Chatroom.objects.get(pk=room.pk)
    return {
        "slow_mode_seconds": room.slow_mode_seconds,
        "muted": room.muted,
        "new_user_hold_minutes": room.new_user_hold_minutes,
    }


def age_sessions(subject: str, minutes: float) -> None:
    ChatSession.objects.filter(subject=subject).update(
        created_at=timezone.now() - timedelta(minutes=minutes)
    )


@pytest.fixture
def ana(db):
    return Actor.staff(factories.StaffUserFactory(username="ana"))


def configure(room, actor, *, slow=30, mute=True, hold=10):
    return services.chatroom_lockdown_configure(
        actor=actor,
        room=room,
        slow_mode_seconds=slow,
        mute_viewers=mute,
        hold_new_users_minutes=hold,
    )


# --- On and off -------------------------------------------------------------------------


def test_a_room_without_a_bundle_gets_the_defaults(room, ana):
    lockdown, changed = services.chatroom_lockdown_start(actor=ana, room=room)

    assert changed and lockdown.active
    assert settings_of(room) == {
        "slow_mode_seconds": LOCKDOWN_DEFAULT_SLOW_MODE_SECONDS,
        "muted": False,
        "new_user_hold_minutes": LOCKDOWN_DEFAULT_HOLD_MINUTES,
    }


def test_on_applies_the_bundle_and_records_who_and_when(room, ana):
    configure(room, ana, slow=45, mute=True, hold=15)

    lockdown, changed = services.chatroom_lockdown_start(actor=ana, room=room)

    assert changed
    assert settings_of(room) == {
        "slow_mode_seconds": 45,
        "muted": True,
        "new_user_hold_minutes": 15,
    }
    assert lockdown.started_by == ana.user and lockdown.started_by_name == "ana"
    assert timezone.now() - lockdown.started_at < timedelta(seconds=5)
    entry = AuditLogEntry.objects.get(action=AuditAction.LOCKDOWN_ON, room=room)
    assert entry.actor_name == "ana"
    assert entry.before == {"slow_mode_seconds": 0, "muted": False, "new_user_hold_minutes": 0}
    assert entry.after == {"slow_mode_seconds": 45, "muted": True, "new_user_hold_minutes": 15}
    # One audit row for the lockdown, not one per setting it changed.
    assert not AuditLogEntry.objects.filter(
        action__in=[AuditAction.ROOM_MUTE, AuditAction.ROOM_SLOW_MODE]
    ).exists()


def test_off_restores_the_settings_from_before(room, ana, system_actor):
    services.chatroom_set_slow_mode(actor=system_actor, room=room, seconds=5)
    before = settings_of(room)
    configure(room, ana, slow=60, mute=True, hold=10)
    services.chatroom_lockdown_start(actor=ana, room=room)

    lockdown, changed = services.chatroom_lockdown_end(actor=ana, room=room)

    assert changed and not lockdown.active and lockdown.previous is None
    assert settings_of(room) == before
    entry = AuditLogEntry.objects.get(action=AuditAction.LOCKDOWN_OFF, room=room)
    assert entry.before == {"slow_mode_seconds": 60, "muted": True, "new_user_hold_minutes": 10}
    assert entry.after == before


def test_lockdown_only_tightens(room, ana, system_actor):
    services.chatroom_set_slow_mode(actor=system_actor, room=room, seconds=120)
    services.chatroom_set_muted(actor=system_actor, room=room, muted=True)
    configure(room, ana, slow=30, mute=False, hold=0)

    services.chatroom_lockdown_start(actor=ana, room=room)

    assert settings_of(room) == {
        "slow_mode_seconds": 120,
        "muted": True,
        "new_user_hold_minutes": 0,
    }
    services.chatroom_lockdown_end(actor=ana, room=room)
    assert settings_of(room) == {
        "slow_mode_seconds": 120,
        "muted": True,
        "new_user_hold_minutes": 0,
    }


def test_off_puts_back_what_was_there_even_if_changed_during_lockdown(room, ana, system_actor):
    """ "Exactly what was there before": a change made while lockdown is on lasts until
    lockdown ends; the off row's ``before`` keeps what it replaced."""
    services.chatroom_lockdown_start(actor=ana, room=room)
    services.chatroom_set_slow_mode(actor=system_actor, room=room, seconds=300)
    services.chatroom_set_muted(actor=system_actor, room=room, muted=True)

    services.chatroom_lockdown_end(actor=ana, room=room)

    assert settings_of(room) == {"slow_mode_seconds": 0, "muted": False, "new_user_hold_minutes": 0}
    assert not SlowModeSend.objects.filter(room=room).exists()  # slow mode off forgets
    entry = AuditLogEntry.objects.get(action=AuditAction.LOCKDOWN_OFF)
    assert entry.before["slow_mode_seconds"] == 300 and entry.before["muted"] is True


def test_on_twice_and_off_twice_change_nothing_the_second_time(room, ana):
    bob = Actor.staff(factories.StaffUserFactory(username="bob"))
    services.chatroom_lockdown_start(actor=ana, room=room)

    lockdown, changed = services.chatroom_lockdown_start(actor=bob, room=room)

    assert not changed and lockdown.started_by_name == "ana"
    services.chatroom_lockdown_end(actor=ana, room=room)
    _, changed = services.chatroom_lockdown_end(actor=bob, room=room)
    assert not changed
    assert AuditLogEntry.objects.filter(action=AuditAction.LOCKDOWN_ON).count() == 1
    assert AuditLogEntry.objects.filter(action=AuditAction.LOCKDOWN_OFF).count() == 1


def test_muting_by_lockdown_announces_the_mute_events(room, ana, monkeypatch):
    announced = []
    monkeypatch.setattr(
        services.publisher, "announce", lambda room_id, event: announced.append(event["type"])
    )
    configure(room, ana, mute=True)

    services.chatroom_lockdown_start(actor=ana, room=room)
    services.chatroom_lockdown_end(actor=ana, room=room)

    assert announced == [InteractionType.MUTE, InteractionType.UNMUTE]


def test_an_inactive_room_cannot_be_locked_down_but_can_be_released(room, ana, system_actor):
    services.chatroom_lockdown_start(actor=ana, room=room)
    services.chatroom_change_status(actor=system_actor, room=room, status=ChatStatus.INACTIVE)

    _, changed = services.chatroom_lockdown_end(actor=ana, room=room)

    assert changed
    with pytest.raises(FailedPrecondition):
        services.chatroom_lockdown_start(actor=ana, room=room)


# --- The bundle -----------------------------------------------------------------------------


def test_editing_the_bundle_is_audited_and_applies_next_time(room, ana):
    services.chatroom_lockdown_start(actor=ana, room=room)

    lockdown = configure(room, ana, slow=90, mute=False, hold=5)

    assert settings_of(room)["slow_mode_seconds"] == LOCKDOWN_DEFAULT_SLOW_MODE_SECONDS
    entry = AuditLogEntry.objects.get(action=AuditAction.LOCKDOWN_BUNDLE)
    assert entry.after == {
        "slow_mode_seconds": 90,
        "mute_viewers": False,
        "hold_new_users_minutes": 5,
    }
    assert lockdown.active  # editing the bundle neither ends nor re-applies lockdown
    configure(room, ana, slow=90, mute=False, hold=5)  # no change, no second row
    assert AuditLogEntry.objects.filter(action=AuditAction.LOCKDOWN_BUNDLE).count() == 1


@pytest.mark.parametrize(
    "values",
    [
        {"slow": -1},
        {"slow": services.MAX_SLOW_MODE_SECONDS + 1},
        {"hold": services.MAX_NEW_USER_HOLD_MINUTES + 1},
    ],
)
def test_a_bundle_out_of_range_is_invalid(room, ana, values):
    with pytest.raises(InvalidArgument):
        configure(room, ana, **values)
    assert not RoomLockdown.objects.exists()


# --- Holding new users ----------------------------------------------------------------------


@pytest.fixture
def held_room(room, ana):
    configure(room, ana, slow=0, mute=False, hold=10)
    services.chatroom_lockdown_start(actor=ana, room=room)
    return room


def test_a_new_user_is_refused_over_http_with_failed_precondition(held_room, viewer_token_client):
    response = send(viewer_token_client)

    body = assert_status(response, 400, FailedPrecondition.grpc_code)
    assert reason(body) == HELD
    retry = next(d for d in body["details"] if d["@type"] == RETRY_INFO_TYPE)
    assert 590 <= int(retry["retry_delay"].rstrip("s")) <= 600
    assert not ChatMessage.objects.exists()


def test_a_user_who_joined_before_the_hold_window_may_send(held_room, viewer_token_client):
    age_sessions("viewer-1", 11)

    assert send(viewer_token_client).status_code == 200


def test_the_first_session_counts_not_the_newest(held_room, viewer_token_client, make_token_client):
    age_sessions("viewer-1", 30)  # joined half an hour ago, then minted a fresh token
    fresh = make_token_client(held_room, subject="viewer-1", device_id="viewer-device")

    assert send(fresh).status_code == 200


def test_admins_are_not_held(held_room, admin_token_client):
    assert send(admin_token_client).status_code == 200


def test_the_hold_ends_with_lockdown(held_room, ana, viewer_token_client):
    services.chatroom_lockdown_end(actor=ana, room=held_room)

    assert send(viewer_token_client).status_code == 200


def test_the_worker_drops_held_users_messages_and_counts_them(held_room):
    worker = Worker(name="unstarted")

    def items(user, role="ROLE_VIEWER"):
        sender = Sender.from_identity(
            json.dumps({"room": str(held_room.pk), "id": user, "role": role})
        )
        return [Received(sender=sender, payload=json.dumps(text()).encode(), at=0.0)]

    ChatSession.objects.create(
        room=held_room,
        subject="old-hand",
        device_id="d",
        name="Old",
        role="ROLE_VIEWER",
        key_id="k",
        created_at=timezone.now() - timedelta(hours=1),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    batch = items("newcomer") + items("old-hand") + items("host", "ROLE_ADMIN")
    worker.store(held_room.pk, worker.parse(batch))

    assert worker.stats["stored"] == 2
    assert worker.stats[f"refused_{HELD}"] == 1
    assert sorted(ChatMessage.objects.values_list("user_id", flat=True)) == ["host", "old-hand"]


# --- The API extension ------------------------------------------------------------------------


def test_an_admin_token_turns_lockdown_on_and_off_over_the_api(
    room, admin_token_client, viewer_token_client
):
    url = f"{B}/chatrooms/lockdown"
    assert viewer_token_client.get(url).json() == {
        "lockdown": {"active": False, "started_at": None, "new_user_hold_minutes": 0}
    }

    on = admin_token_client.put(url, {"lockdown": {"active": True}}, format="json")

    assert on.status_code == 200
    body = on.json()["lockdown"]
    assert body["active"] is True and body["started_at"]
    assert body["new_user_hold_minutes"] == LOCKDOWN_DEFAULT_HOLD_MINUTES
    assert viewer_token_client.get(url).json() == on.json()
    entry = AuditLogEntry.objects.get(action=AuditAction.LOCKDOWN_ON)
    assert entry.actor_id == "admin-1"
    assert reason(send(viewer_token_client).json()) == HELD

    off = admin_token_client.put(url, {"lockdown": {"active": False}}, format="json")

    assert off.json()["lockdown"]["active"] is False
    assert settings_of(room) == {"slow_mode_seconds": 0, "muted": False, "new_user_hold_minutes": 0}


def test_a_viewer_token_cannot_turn_lockdown_on(room, viewer_token_client):
    response = viewer_token_client.put(
        f"{B}/chatrooms/lockdown", {"lockdown": {"active": True}}, format="json"
    )

    assert response.status_code == 403
    assert not RoomLockdown.objects.exists()
