"""Clients that follow the upstream SDK recipes chat through the real broker and worker."""

from datetime import timedelta
from io import StringIO

import jwt
import pytest
from django.core.management import call_command
from django.utils import timezone
from paho.mqtt.reasoncodes import ReasonCode

from chatrooms import auth, services
from chatrooms.auth import Actor
from chatrooms.models import (
    AuditAction,
    AuditChainHead,
    AuditLogEntry,
    BlockedUser,
    ChatMessage,
    ChatMode,
    ChatStatus,
    CounterIncrement,
    CustomCounter,
    InteractionType,
    Role,
)
from chatrooms.realtime import publisher
from tests.realtime.conftest import connack, connect, fetch_config, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SENT_AT = "2026-05-01T12:00:00.123000000Z"  # Android's form: milliseconds, six zeros


def text(body: str, name: str = "") -> dict:
    message = {
        "text_message": {"text": body},
        "type": "INTERACTION_TYPE_TEXT",
        "sent_at": SENT_AT,
    }
    if name:
        message["user"] = {"custom_name": name}
    return message


def taps(key: str, n: int) -> dict:
    """The Android SDK's countable batch: the sum in incr, the taps in value."""
    listed = ",".join(f'{{"value":1,"id":"tap-{i}","sent_at":"{SENT_AT}"}}' for i in range(n))
    return {
        "type": "INTERACTION_TYPE_CUSTOM",
        "user": {"custom_name": "Tapper"},
        "custom_message": {"incr": {"key": key, "value": n}, "value": f"[{listed}]"},
        "sent_at": SENT_AT,
    }


def of_type(kind: str):
    return lambda messages: any(m["type"] == kind for m in messages)


def test_config_describes_a_connection_an_sdk_can_use(broker, room):
    issued = auth.chatroom_token_issue(room=room, role=Role.VIEWER, name="Vera")
    config = fetch_config(issued.token)
    connection = config["connection"]
    assert connection["endpoint"] == "localhost"  # a bare host name: the SDK adds :443
    assert connection["url"] == f"ws://127.0.0.1:{broker.ws_port}/mqtt"
    assert connection["token"] == issued.token
    claims = jwt.decode(connection["client_id"], options={"verify_signature": False})
    assert claims["type"] == auth.CLIENT_ID_TYPE
    assert claims["chat_id"] == str(room.pk)
    assert config["topic"] == {
        "pub": f"chatrooms/{room.pk}/inbox",
        "sub": f"chatrooms/{room.pk}/messages",
    }
    admin = auth.chatroom_token_issue(room=room, role=Role.ADMIN)
    assert fetch_config(admin.token)["topic"]["sub"] == f"chatrooms/{room.pk}/admin"


def test_clients_of_every_credential_form_chat_and_count(
    worker, room, chat_clients, api_key_client
):
    android = chat_clients(room, Role.VIEWER, name="Vera", subject="vera")
    by_password = chat_clients(room, Role.ADMIN, form="password", transport="tcp", subject="host")
    by_client_id = chat_clients(room, Role.GUEST, form="client_id", device_id="guest-device")

    android.send(text("hello from android", name="Vera"))
    for receiver in (by_password, by_client_id):
        [message] = receiver.messages()
        assert message["type"] == "INTERACTION_TYPE_TEXT"
        assert message["text_message"] == {"text": "hello from android", "filtered": False}
        assert message["user"]["id"] == "vera"
        assert message["user"]["custom_name"] == "Vera"
        assert message["user"]["is_admin"] is False
        assert message["sent_at"] == "2026-05-01T12:00:00.123Z"
        assert message["id"] and message["received_at"] and message["published_at"]

    by_client_id.send(taps("like", 3))
    by_password.send({"type": "INTERACTION_TYPE_CUSTOM", "custom_message": {"value": "🎉"}})
    got = android.messages(until=of_type("INTERACTION_TYPE_CUSTOM_COUNTER_UPDATE"))
    customs = [m for m in got if m["type"] == "INTERACTION_TYPE_CUSTOM"]
    # Two connections: either may reach the broker first.
    assert sorted(m["custom_message"]["value"] for m in customs) == sorted(
        ["🎉", taps("like", 3)["custom_message"]["value"]]
    )
    assert {"key": "like", "value": 3} in [m["custom_message"].get("incr") for m in customs]
    [update] = [m for m in got if m["type"] == "INTERACTION_TYPE_CUSTOM_COUNTER_UPDATE"]
    assert update["custom_counter"]["key"] == "like"
    assert update["custom_counter"]["value"] == 3
    assert update["custom_counter"]["version_number"] == "1"

    history = android_history(room, api_key_client)
    assert sorted(m["type"] for m in history) == [
        "INTERACTION_TYPE_CUSTOM",
        "INTERACTION_TYPE_CUSTOM",
        "INTERACTION_TYPE_TEXT",
    ]
    assert history[0]["user"]["id"] == "vera"


def android_history(room, api_key_client) -> list[dict]:
    issued = auth.chatroom_token_issue(room=room, role=Role.ADMIN)
    api_key_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    response = api_key_client.get("/bv/chatroom/v1/chatrooms/messages?from_oldest=true")
    assert response.status_code == 200
    return response.json()["messages"]


NOT_AUTHORIZED = 0x87


def test_bad_credentials_get_not_authorized(broker, room, system_actor):
    good = fetch_config(auth.chatroom_token_issue(room=room, role=Role.VIEWER).token)
    expired = jwt.encode(
        {**jwt.decode(good["connection"]["token"], options={"verify_signature": False}), "exp": 1},
        auth.token_secret(),
    )
    forged = jwt.encode(
        jwt.decode(good["connection"]["token"], options={"verify_signature": False}),
        "not-the-secret-but-as-long-as-a-real-one",
    )
    inactive_room = services.chatroom_create(actor=system_actor)
    inactive = fetch_config(auth.chatroom_token_issue(room=inactive_room).token)
    services.chatroom_change_status(
        actor=system_actor, room=inactive_room, status=ChatStatus.INACTIVE
    )
    cases = {
        "junk username": dict(good, connection={**good["connection"], "token": "junk"}),
        "expired token": dict(good, connection={**good["connection"], "token": expired}),
        "forged token": dict(good, connection={**good["connection"], "token": forged}),
        "inactive room": inactive,
    }
    for name, config in cases.items():
        chat = connect(broker, config, subscribe=False)
        assert connack(chat) == ReasonCode(2, identifier=NOT_AUTHORIZED), name
        chat.close()
    # No credential at all, and a client id that is not ours.
    chat = connect(broker, good, form="none", subscribe=False, client_id="someone")
    assert connack(chat).value == NOT_AUTHORIZED
    chat.close()
    tampered = good["connection"]["client_id"][:-2] + "xx"
    chat = connect(broker, good, form="client_id", subscribe=False, client_id=tampered)
    assert connack(chat).value == NOT_AUTHORIZED
    chat.close()


def test_a_client_reaches_only_its_own_rooms_topics(worker, room, chat_clients, system_actor):
    other_room = services.chatroom_create(actor=system_actor)
    viewer = chat_clients(room, Role.VIEWER)
    other = chat_clients(other_room, Role.VIEWER)
    refused = [
        other.sub,  # another room's
        other.pub,
        "#",
        "chatrooms/+/messages",
        f"$share/sneaky/{viewer.sub}",
        "$SYS/#",
        viewer.pub,  # its own publish topic: only the server reads it
        f"chatrooms/{room.pk}/admin",  # a viewer is not an admin
    ]
    for topic in refused:
        [code] = viewer.subscribe(topic)
        assert code.is_failure, topic

    # Publishing on a subscribe topic or into another room reaches nobody.
    viewer.send([{"type": "INTERACTION_TYPE_TEXT", "user": {"is_admin": True}}], topic=viewer.sub)
    viewer.send(text("into the other room"), topic=other.pub)
    assert other.nothing_for(0.5) == []
    assert not ChatMessage.objects.exists()


def test_forged_and_malformed_messages_are_dropped_and_counted(worker, room, chat_clients):
    sender = chat_clients(room, Role.VIEWER, subject="mallory")
    receiver = chat_clients(room, Role.VIEWER)
    bad = [
        b"not json",
        b"\xff\xfe",
        "[1, 2]",
        {"type": "INTERACTION_TYPE_MUTE"},
        {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": 5}},
        {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": "x" * 2001}},
        {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": "hi"}, "sent_at": 7},
        {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": "hi"}, "id": "nope"},
        dict(text("I am admin"), user={"is_admin": True}),
        dict(text("I am someone else"), user={"id": "alice"}),
        dict(text("not blocked"), user={"blocked": True}),
        {
            "type": "INTERACTION_TYPE_CUSTOM",
            "custom_message": {"incr": {"key": "like", "value": "1"}},
        },
        b"{" * 20_000,  # oversize
    ]
    for body in bad:
        sender.send(body)
    sender.send(text("the one good message"))
    [message] = receiver.messages()
    assert message["text_message"]["text"] == "the one good message"
    assert message["user"]["id"] == "mallory"
    assert ChatMessage.objects.count() == 1
    stats = worker.stats
    wait_for(lambda: stats["stored"] == 1)
    assert stats["dropped_forged_user"] == 3
    assert stats["dropped_not_json"] == 2
    assert stats["dropped_oversize"] == 1
    assert stats["dropped_not_an_object"] == 1
    assert stats["dropped_unknown_type"] == 1
    assert stats["dropped_wrong_field_type"] == 4
    assert stats["dropped_too_long"] == 1


def test_a_blocked_users_messages_reach_admins_and_no_viewer(
    worker, room, chat_clients, system_actor
):
    blocked = chat_clients(room, Role.VIEWER, subject="troll", device_id="troll-device")
    viewer = chat_clients(room, Role.VIEWER)
    admin = chat_clients(room, Role.ADMIN)
    services.user_block(actor=system_actor, room=room, user_id="troll")
    assert viewer.messages(until=of_type("INTERACTION_TYPE_BLOCK_USER"))
    admin.messages(until=of_type("INTERACTION_TYPE_BLOCK_USER"))

    blocked.send(text("spam"))
    [message] = admin.messages()
    assert message["user"]["id"] == "troll"
    assert message["user"]["blocked"] is True
    assert viewer.nothing_for(0.5) == []
    stored = ChatMessage.objects.get()
    assert stored.user_blocked
    assert stored.sender_hidden  # so viewers' history leaves it out in SQL


def test_the_worker_releases_expired_blocks(worker, room, system_actor):
    block, _ = services.user_block(
        actor=system_actor,
        room=room,
        user_id="troll",
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    troll = auth.chatroom_token_issue(room=room, role=Role.VIEWER, subject="troll")
    services.message_send(
        actor=Actor.for_token(troll.claims),
        room=room,
        type=InteractionType.TEXT,
        sent_at=timezone.now(),
        text="spam",
    )
    assert ChatMessage.objects.get().sender_hidden
    BlockedUser.objects.filter(pk=block.pk).update(expires_at=timezone.now())

    wait_for(lambda: not ChatMessage.objects.get().sender_hidden)  # the periodic scan
    block.refresh_from_db()
    assert block.unblocked_at == block.expires_at
    assert worker.stats["blocks_released"] == 1


def test_the_worker_keeps_rooms_to_their_ttl(worker, room, settings):
    # A pass every 0.1 s rather than every minute, so the test need not wait for one.
    settings.CHATROOM_HOUSEKEEPING_INTERVAL = timedelta(seconds=0.1)
    room.message_ttl = timedelta(hours=1)
    room.save(update_fields=["message_ttl"])
    old = ChatMessage.objects.create(
        room=room,
        type=InteractionType.TEXT,
        text="old",
        sent_at=timezone.now(),
        received_at=timezone.now() - timedelta(hours=2),
    )
    fresh = ChatMessage.objects.create(
        room=room, type=InteractionType.TEXT, text="new", sent_at=timezone.now()
    )

    wait_for(lambda: not ChatMessage.objects.filter(pk=old.pk).exists())
    assert ChatMessage.objects.filter(pk=fresh.pk).exists()
    wait_for(lambda: worker.stats["housekeeping_messages"] == 1)


def test_one_way_rooms_send_viewers_messages_to_admins_only(worker, room, chat_clients):
    room.mode = ChatMode.ONE_WAY
    room.save(update_fields=["mode"])
    viewer = chat_clients(room, Role.VIEWER)
    other_viewer = chat_clients(room, Role.VIEWER)
    admin = chat_clients(room, Role.ADMIN)
    viewer.send(text("question for the host"))
    assert admin.messages()[0]["text_message"]["text"] == "question for the host"
    admin.send(text("answer for everyone"))
    assert other_viewer.messages()[0]["text_message"]["text"] == "answer for everyone"
    assert viewer.messages()[0]["text_message"]["text"] == "answer for everyone"


def test_a_muted_room_takes_messages_from_admins_only(worker, room, chat_clients, system_actor):
    viewer = chat_clients(room, Role.VIEWER)
    admin = chat_clients(room, Role.ADMIN)
    services.chatroom_set_muted(actor=system_actor, room=room, muted=True)
    viewer.messages(until=of_type("INTERACTION_TYPE_MUTE"))
    admin.messages(until=of_type("INTERACTION_TYPE_MUTE"))
    viewer.send(text("let me speak"))
    admin.send(text("only me"))
    assert [m["text_message"]["text"] for m in viewer.messages()] == ["only me"]
    wait_for(lambda: worker.stats["refused_CHATROOM_MUTED"] == 1)


def test_deactivating_a_room_ends_its_sessions(worker, room, chat_clients, system_actor):
    viewer = chat_clients(room, Role.VIEWER)
    services.chatroom_change_status(actor=system_actor, room=room, status=ChatStatus.INACTIVE)
    assert viewer.disconnected.wait(5)


def test_a_session_ends_when_its_token_expires(broker, room, chat_clients):
    viewer = chat_clients(room, Role.VIEWER, expired_at=timezone.now() + timedelta(seconds=2))
    assert not viewer.disconnected.is_set()
    assert viewer.disconnected.wait(5)


def test_increments_are_stored_exactly_once_per_message(worker, room, chat_clients):
    sender = chat_clients(room, Role.VIEWER)
    for _ in range(50):
        sender.send(taps("like", 2))
    wait_for(lambda: CounterIncrement.objects.count() == 50)
    wait_for(lambda: CustomCounter.objects.get(room=room, key="like").value == 100)
    assert ChatMessage.objects.count() == 50


def test_a_busy_window_arrives_whole_in_several_arrays(worker, room, chat_clients, settings):
    # One client stands for a busy room here: 300 messages at once is far past one
    # person's send limit (tests/chatrooms/test_rate_limits.py), which is not the point.
    settings.CHATROOM_SEND_RATE = None
    sender = chat_clients(room, Role.VIEWER)
    receiver = chat_clients(room, Role.VIEWER)
    words = "x" * 1500
    for i in range(300):  # ~500 KB rendered: more than one broadcast packet may hold
        sender.send(text(f"{i} {words}"))
    got = receiver.messages(until=lambda got: len(got) >= 300)
    assert [int(m["text_message"]["text"].split()[0]) for m in got] == list(range(300))
    assert len(receiver.raw) > 1
    assert max(len(m.payload) for m in receiver.raw) <= publisher.ARRAY_MAX_BYTES
    assert worker.connection.stats["disconnects"] == 0  # the broker took every packet


# On PostgreSQL an entry is sealed once every older write transaction of the whole cluster
# has ended: another database's long transaction (a test, a seed) holds sealing back.
SEAL_WAIT = 90


def test_the_worker_seals_the_audit_log(worker, room, system_actor):
    """Audited writes take no lock; the worker chains their entries about once a second."""
    minted = auth.chatroom_token_issue(room=room, role=Role.VIEWER, name="Vera")
    mint = AuditLogEntry.objects.get(action=AuditAction.TOKEN_MINT, target_id=minted.session.pk)
    assert mint.sequence is None

    wait_for(
        lambda: not AuditLogEntry.objects.filter(sequence__isnull=True).exists(), timeout=SEAL_WAIT
    )
    assert AuditLogEntry.objects.get(pk=mint.pk).sequence == AuditLogEntry.objects.count()
    assert worker.stats["audit_sealed"] >= 1
    out = StringIO()
    call_command("verify_audit_log", "--no-seal", stdout=out)
    assert "Unsealed: none." in out.getvalue()


def test_a_failing_sealer_does_not_hold_the_messages_up(worker, room, chat_clients, system_actor):
    """The chain head moved back by hand: sealing the next entry would reuse a sequence
    number and fails. The worker counts it, pauses sealing and goes on storing messages
    without backing off as if the database were away."""
    unsealed = AuditLogEntry.objects.filter(sequence__isnull=True)
    wait_for(lambda: not unsealed.exists(), timeout=SEAL_WAIT)  # the room's entries
    AuditChainHead.objects.update(sequence=0)
    services.audit_record(actor=system_actor, action=AuditAction.ROOM_UPDATE)

    wait_for(lambda: worker.stats["audit_seal_errors"] >= 1, timeout=SEAL_WAIT)
    client = chat_clients(room, Role.VIEWER)
    client.send(text("still here"))
    wait_for(lambda: ChatMessage.objects.filter(room=room).exists())
    assert worker.stats["database_errors"] == 0
    assert worker.stats["audit_seal_errors"] == 1  # paused, not retried every second
