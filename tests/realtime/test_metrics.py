"""The realtime worker's figures reach Prometheus (issue 13): what it received, stored
and dropped, its lag and buffer, and the broker's connection count, with the real
broker and worker."""

import pytest
from prometheus_client import REGISTRY

from chatrooms.models import Role
from tests.realtime.conftest import wait_for
from tests.realtime.test_link import text

pytestmark = pytest.mark.django_db(transaction=True)


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_workers_counts_lag_and_connections_are_exported(worker, room, chat_clients):
    received = value("chatroom_realtime_events_total", event="received")
    stored = value("chatroom_realtime_events_total", event="stored")
    oversize = value("chatroom_realtime_dropped_total", reason="oversize")
    accepted = value("chatroom_messages_accepted_total")
    sender = chat_clients(room, Role.VIEWER, subject="ann")
    receiver = chat_clients(room, Role.VIEWER, subject="bob")

    sender.send(b"{" * 20_000)
    sender.send(text("counted"))
    receiver.messages()

    wait_for(lambda: value("chatroom_realtime_events_total", event="stored") == stored + 1)
    assert value("chatroom_realtime_events_total", event="received") == received + 2
    assert value("chatroom_realtime_dropped_total", reason="oversize") == oversize + 1
    assert value("chatroom_messages_accepted_total") == accepted + 1
    assert value("chatroom_realtime_buffered_messages") == 0
    assert value("chatroom_realtime_lag_seconds") == 0
    # The broker plugin reports its per-room counts every few seconds.
    wait_for(lambda: value("chatroom_broker_connections") == 2, timeout=20)
