"""The link survives its parts restarting; nothing acknowledged is stored twice."""

import json
import threading

import pytest
from django import db

from chatrooms import services
from chatrooms.models import ChatMessage, Role
from chatrooms.realtime import publisher
from chatrooms.realtime.worker import Worker
from tests.realtime.conftest import WAIT, wait_for
from tests.realtime.test_link import of_type, text

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_broker_restart_loses_no_commits_and_everyone_reconnects(
    worker, broker, room, chat_clients, viewer_token_client
):
    before = chat_clients(room, Role.VIEWER)
    before.send(text("before"))
    before_receiver = chat_clients(room, Role.VIEWER)
    wait_for(lambda: ChatMessage.objects.count() == 1)

    broker.stop()
    assert before.disconnected.wait(WAIT)
    # The REST API keeps working; its broadcast is dropped and counted.
    dropped = publisher.process_connection.get().stats["dropped_broker_down"]
    response = viewer_token_client.post(
        "/bv/chatroom/v1/chatrooms/messages", text("while the broker is down"), format="json"
    )
    assert response.status_code == 200
    # Dropped for both of the room's topics (viewers', admins').
    assert publisher.process_connection.get().stats["dropped_broker_down"] == dropped + 2

    broker.start()
    wait_for(worker.connection.connected.is_set, timeout=40)  # paho's backoff: up to 30 s
    wait_for(publisher.process_connection.get().connected.is_set, timeout=40)
    sender = chat_clients(room, Role.VIEWER)  # clients reconnect, as the SDKs do
    receiver = chat_clients(room, Role.ADMIN)
    sender.send(text("after"))
    assert [m["text_message"]["text"] for m in receiver.messages()] == ["after"]
    assert ChatMessage.objects.count() == 3
    assert before_receiver  # connected before the restart; not used after


def test_a_worker_restart_stores_every_message_once(broker, room, chat_clients):
    first = Worker(name="first")
    thread = threading.Thread(target=first.run, daemon=True)
    thread.start()
    wait_for(first.connection.connected.is_set)
    sender = chat_clients(room, Role.VIEWER)
    receiver = chat_clients(room, Role.ADMIN)
    for i in range(20):
        sender.send(text(f"first {i}"))
    wait_for(lambda: first.stats["stored"] == 20)
    first.stop()  # SIGTERM: finishes its batches, then exits
    thread.join(WAIT)
    assert not thread.is_alive()

    second = Worker(name="second")
    thread = threading.Thread(target=second.run, daemon=True)
    thread.start()
    wait_for(second.connection.connected.is_set)
    for i in range(20):
        sender.send(text(f"second {i}"))
    got = receiver.messages(until=lambda got: len(got) >= 40)
    second.stop()
    thread.join(WAIT)

    texts = [m["text_message"]["text"] for m in got]
    assert texts == [f"first {i}" for i in range(20)] + [f"second {i}" for i in range(20)]
    assert ChatMessage.objects.count() == 40
    assert len(set(ChatMessage.objects.values_list("id", flat=True))) == 40


def test_connected_clients_are_counted_while_viewer_info_is_on(
    worker, room, chat_clients, system_actor
):
    services.viewer_info_update(actor=system_actor, room=room, enabled=True)
    viewers = [chat_clients(room, Role.VIEWER) for _ in range(3)]
    # The broker reports every few seconds; the worker passes changes on.
    update = viewers[0].messages(
        timeout=20,
        until=lambda got: any(
            m["type"] == "INTERACTION_TYPE_VIEWER_INFO_UPDATE" and m["viewer_info"]["count"] == 3
            for m in got
        ),
    )
    assert of_type("INTERACTION_TYPE_VIEWER_INFO_UPDATE")(update)
    room.refresh_from_db()
    assert room.viewer_count == 3


class BackendRecordingWorker(Worker):
    """A worker that notes its PostgreSQL backend, so a test can cut it off."""

    backends: set[int]

    def store(self, room_id, batch):
        db.connection.ensure_connection()
        self.backends.add(db.connection.connection.info.backend_pid)
        return super().store(room_id, batch)


@pytest.mark.skipif(
    db.connection.vendor != "postgresql", reason="needs PostgreSQL: cuts the worker's backend"
)
def test_the_worker_rides_out_lost_database_connections(broker, room, chat_clients, settings):
    # 61 messages from one client within seconds is past one person's send limit
    # (tests/chatrooms/test_rate_limits.py); this test is about the database, not that.
    settings.CHATROOM_SEND_RATE = None
    worker = BackendRecordingWorker(name="cut-off")
    worker.backends = set()
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_for(worker.connection.connected.is_set)
    sender = chat_clients(room, Role.VIEWER)
    receiver = chat_clients(room, Role.ADMIN)
    try:
        for round_ in range(3):
            for i in range(20):
                sender.send(text(f"{round_}-{i}"))
            wait_for(lambda n=20 * (round_ + 1): worker.stats["stored"] == n)
            # The next batch finds its connection dead, backs off, reconnects, stores.
            with db.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)",
                    [list(worker.backends)],
                )
        sender.send(text("after the last cut"))
        got = receiver.messages(until=lambda got: len(got) >= 61, timeout=30)
    finally:
        worker.stop()
        thread.join(WAIT)
    assert [m["text_message"]["text"] for m in got][-1] == "after the last cut"
    assert ChatMessage.objects.count() == 61
    assert worker.stats["database_errors"] >= 3


def test_a_retried_batch_whose_commit_happened_stores_nothing_twice(room):
    """The commit went through but its answer was lost: the retry finds its ids taken."""
    from chatrooms.realtime.ingest import Sender
    from chatrooms.realtime.worker import Received

    worker = Worker(name="unstarted")
    sender = Sender.from_identity(
        json.dumps({"room": str(room.pk), "id": "u1", "role": "ROLE_VIEWER"})
    )
    items = [
        Received(sender=sender, payload=json.dumps(text(f"m{i}")).encode(), at=0.0)
        for i in range(5)
    ]
    batch = worker.parse(items)
    worker.store(room.pk, batch)
    batch.attempts = 1  # as flush() marks a batch whose store raised
    worker.store(room.pk, batch)

    assert ChatMessage.objects.count() == 5
    assert worker.stats["stored"] == 5
    assert worker.stats["refused_MESSAGE_EXISTS"] == 5
