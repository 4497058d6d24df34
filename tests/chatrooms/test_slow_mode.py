"""Slow mode (issue 9, #4): in a room with ``slow_mode_seconds`` N, a non-admin sends
at most one message per N seconds; admins set it over the API (an extension), in the
console and in the admin, each change audited."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from chatrooms import services
from chatrooms.errors import RETRY_INFO_TYPE, FailedPrecondition, ResourceExhausted
from chatrooms.models import (
    AuditAction,
    AuditLogEntry,
    AuditSource,
    ChatMessage,
    Chatroom,
    ChatStatus,
    InteractionType,
    Role,
    SlowModeSend,
)
from chatrooms.realtime.ingest import Sender
from chatrooms.realtime.worker import Received, Worker
from tests.chatrooms.helpers import assert_status, field_violations

pytestmark = pytest.mark.django_db

B = "/bv/chatroom/v1"
URL = f"{B}/chatrooms/slow-mode"


def text(words="hello"):
    return {"type": InteractionType.TEXT, "text_message": {"text": words}}


def send(client, body=None):
    return client.post(f"{B}/chatrooms/messages", body or text(), format="json")


def slow(room, seconds, system_actor):
    return services.chatroom_set_slow_mode(actor=system_actor, room=room, seconds=seconds)


def reason(body) -> str:
    return next(d for d in body["details"] if d["@type"].endswith("ErrorInfo"))["reason"]


def test_a_new_room_has_slow_mode_off(room, viewer_token_client):
    assert room.slow_mode_seconds == 0
    assert [send(viewer_token_client).status_code for _ in range(3)] == [200] * 3
    assert not SlowModeSend.objects.exists()  # the table is touched only in slow mode


def test_a_second_message_within_the_window_is_429_with_the_seconds_left(
    room, viewer_token_client, system_actor
):
    slow(room, 30, system_actor)

    first = send(viewer_token_client)
    second = send(viewer_token_client, text("again"))

    assert first.status_code == 200
    body = assert_status(second, 429, ResourceExhausted.grpc_code)
    assert reason(body) == "SLOW_MODE"
    assert 29 <= int(second["Retry-After"]) <= 30
    retry = next(d for d in body["details"] if d["@type"] == RETRY_INFO_TYPE)
    assert retry["retry_delay"] == f"{second['Retry-After']}s"
    assert ChatMessage.objects.count() == 1


def test_after_the_window_the_user_may_send_again(room, viewer_token_client, system_actor):
    slow(room, 5, system_actor)
    assert send(viewer_token_client).status_code == 200
    SlowModeSend.objects.update(next_send_at=timezone.now() - timedelta(milliseconds=1))

    assert send(viewer_token_client).status_code == 200


def test_slow_mode_is_per_user(room, make_token_client, system_actor):
    slow(room, 60, system_actor)
    ann = make_token_client(room, Role.VIEWER, subject="ann")
    bob = make_token_client(room, Role.VIEWER, subject="bob")
    guest = make_token_client(room, Role.GUEST)

    assert [send(c).status_code for c in (ann, bob, guest, ann)] == [200, 200, 200, 429]


def test_admins_are_not_slowed(room, admin_token_client, system_actor):
    slow(room, 60, system_actor)

    assert [send(admin_token_client).status_code for _ in range(3)] == [200] * 3


def test_taps_are_not_slowed(room, viewer_token_client, system_actor):
    slow(room, 60, system_actor)
    tap = {"type": InteractionType.CUSTOM, "custom_message": {"incr": {"key": "like", "value": 1}}}

    assert [send(viewer_token_client, tap).status_code for _ in range(3)] == [200] * 3
    assert send(viewer_token_client).status_code == 200
    assert send(viewer_token_client).status_code == 429


def test_a_refused_message_does_not_use_the_slot(room, viewer_token_client, system_actor):
    slow(room, 60, system_actor)
    services.chatroom_set_muted(actor=system_actor, room=room, muted=True)
    assert_status(send(viewer_token_client), 400, FailedPrecondition.grpc_code)

    services.chatroom_set_muted(actor=system_actor, room=room, muted=False)

    assert send(viewer_token_client).status_code == 200


def test_turning_slow_mode_off_lets_everyone_send(room, viewer_token_client, system_actor):
    slow(room, 60, system_actor)
    send(viewer_token_client)
    slow(room, 0, system_actor)

    assert send(viewer_token_client).status_code == 200


def test_the_worker_lets_one_message_per_user_through_and_counts_the_rest(room, system_actor):
    slow(room, 60, system_actor)
    worker = Worker(name="unstarted")

    def items(user, n, role="ROLE_VIEWER"):
        sender = Sender.from_identity(json.dumps({"room": str(room.pk), "id": user, "role": role}))
        payload = json.dumps(text()).encode()
        return [Received(sender=sender, payload=payload, at=0.0) for _ in range(n)]

    batch = items("ann", 3) + items("bob", 2) + items("host", 2, "ROLE_ADMIN")
    worker.store(room.pk, worker.parse(batch))
    worker.store(room.pk, worker.parse(items("ann", 1)))

    assert worker.stats["stored"] == 4  # ann, bob, and the host twice
    assert worker.stats["refused_SLOW_MODE"] == 4
    assert sorted(ChatMessage.objects.values_list("user_id", flat=True)) == [
        "ann",
        "bob",
        "host",
        "host",
    ]


# --- The service -------------------------------------------------------------------------


def test_setting_slow_mode_is_audited_once(room, system_actor):
    slow(room, 10, system_actor)
    slow(room, 10, system_actor)  # no change, no second row

    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_SLOW_MODE, room=room)
    assert entry.before == {"slow_mode_seconds": 0}
    assert entry.after == {"slow_mode_seconds": 10}
    room.refresh_from_db()
    assert room.slow_mode_seconds == 10


@pytest.mark.parametrize("seconds", [-1, services.MAX_SLOW_MODE_SECONDS + 1])
def test_slow_mode_out_of_range_is_invalid(room, system_actor, seconds):
    from chatrooms.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        slow(room, seconds, system_actor)


def test_an_inactive_room_refuses_slow_mode(room, system_actor):
    services.chatroom_change_status(actor=system_actor, room=room, status=ChatStatus.INACTIVE)

    with pytest.raises(FailedPrecondition):
        slow(room, 10, system_actor)


# --- The API extension ----------------------------------------------------------------------


def body(seconds, **extra):
    return {"slow_mode": {"seconds": seconds}, **extra}


def test_an_admin_token_sets_slow_mode(admin_token_client, room):
    response = admin_token_client.put(
        URL, body(30, action_taker={"custom_name": "Stage host"}), format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"slow_mode": {"seconds": 30}}
    room.refresh_from_db()
    assert room.slow_mode_seconds == 30
    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_SLOW_MODE)
    assert entry.source == AuditSource.API
    assert entry.actor_id == "admin-1"
    assert entry.actor_name == "Stage host"


def test_any_token_reads_slow_mode(viewer_token_client, room, system_actor):
    slow(room, 15, system_actor)

    response = viewer_token_client.get(URL)

    assert response.status_code == 200
    assert response.json() == {"slow_mode": {"seconds": 15}}


def test_no_credential_is_401(anon_client):
    assert_status(anon_client.put(URL, body(5), format="json"), 401, 16)
    assert_status(anon_client.get(URL), 401, 16)


def test_a_viewer_cannot_set_slow_mode(viewer_token_client, room):
    assert_status(viewer_token_client.put(URL, body(5), format="json"), 403, 7)
    room.refresh_from_db()
    assert room.slow_mode_seconds == 0


def test_an_api_key_cannot_set_slow_mode(api_key_client):
    assert_status(api_key_client.put(URL, body(5), format="json"), 403, 7)


def test_another_rooms_admin_changes_only_its_own_room(other_room_admin_client, room):
    response = other_room_admin_client.put(URL, body(5), format="json")

    assert response.status_code == 200
    room.refresh_from_db()
    assert room.slow_mode_seconds == 0
    other = Chatroom.objects.get(pk=other_room_admin_client.claims.chat_id)
    assert other.slow_mode_seconds == 5


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"slow_mode": {}},
        {"slow_mode": {"seconds": "30"}},
        {"slow_mode": {"seconds": 1.5}},
        {"slow_mode": {"seconds": -1}},
        {"slow_mode": {"seconds": services.MAX_SLOW_MODE_SECONDS + 1}},
    ],
)
def test_a_malformed_body_is_400(admin_token_client, bad):
    response = admin_token_client.put(URL, bad, format="json")

    body = assert_status(response, 400, 3)
    assert any(path.startswith("slow_mode") for path in field_violations(body))
