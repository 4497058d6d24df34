"""The server's own MQTT 5 connection to the broker, and broadcasting through it.

Every process that changes rooms (web workers, the realtime worker, management
commands) announces changes with ``announce``: after the transaction commits, the
messages go out as one JSON array per topic, as the upstream SDKs expect. The
connection is opened lazily once per process (after a fork, again), reconnects by
itself with capped backoff, and while the broker is away broadcasts are dropped and
counted rather than blocking a request: the database is the record, the broadcast a
notification (clients catch up from history and the room state).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from paho.mqtt.enums import CallbackAPIVersion

from chatrooms.realtime import topics

logger = logging.getLogger(__name__)

SERVER_USERNAME = "chatroom-server"
# How long the first broadcast of a process waits for its connection to come up.
FIRST_CONNECT_WAIT_SECONDS = 1.0


def broker_secret() -> str:
    if settings.CHATROOM_BROKER_SECRET:
        return settings.CHATROOM_BROKER_SECRET
    return hmac.new(settings.SECRET_KEY.encode(), b"chatroom-broker", hashlib.sha256).hexdigest()


def _json(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class ServerConnection:
    """One MQTT 5 client logged in as the server (all topics allowed by the plugin).

    ``subscriptions`` are (re)made on every connect; ``on_message`` runs on paho's
    network thread and must be quick.
    """

    def __init__(
        self,
        *,
        name: str,
        subscriptions: Iterable[str] = (),
        on_message: Callable[[mqtt.MQTTMessage], None] | None = None,
    ):
        self.name = name
        self.subscriptions = list(subscriptions)
        self.stats: Counter[str] = Counter()
        self.connected = threading.Event()
        client_id = f"{SERVER_USERNAME}-{name}-{os.getpid()}-{secrets.token_hex(4)}"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(SERVER_USERNAME, broker_secret())
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        # QoS 0 only: paho must not hold messages for a broker that is away.
        self.client.max_queued_messages_set(1)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        if on_message is not None:
            self.client.on_message = lambda _client, _userdata, message: on_message(message)

    def start(self) -> ServerConnection:
        self.client.connect_async(
            settings.CHATROOM_BROKER_HOST, settings.CHATROOM_BROKER_PORT, keepalive=30
        )
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties):
        if reason_code.is_failure:
            logger.warning("broker refused %s: %s", self.name, reason_code)
            return
        for topic in self.subscriptions:
            client.subscribe(topic, qos=0)
        self.connected.set()
        logger.info("%s connected to the broker", self.name)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties):
        self.stats["disconnects"] += 1
        if self.connected.is_set():
            logger.warning("%s lost the broker (%s); reconnecting", self.name, reason_code)
        self.connected.clear()

    def publish(self, topic: str, payload: bytes) -> bool:
        if not self.connected.is_set():
            self.stats["dropped_broker_down"] += 1
            return False
        info = self.client.publish(topic, payload, qos=0)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.stats["dropped_broker_down"] += 1
            return False
        self.stats["published"] += 1
        return True


class _ProcessConnection:
    """The connection of this process, opened on first use."""

    def __init__(self):
        self._lock = threading.Lock()
        self._connection: ServerConnection | None = None
        self._pid: int | None = None

    def use(self, connection: ServerConnection) -> None:
        """Broadcast through a connection the process already has (the worker's)."""
        with self._lock:
            self._connection, self._pid = connection, os.getpid()

    def get(self) -> ServerConnection:
        with self._lock:
            if self._connection is None or self._pid != os.getpid():
                self._connection = ServerConnection(name="web").start()
                self._pid = os.getpid()
                self._connection.connected.wait(FIRST_CONNECT_WAIT_SECONDS)
            return self._connection

    def reset(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.stop()
            self._connection = None


process_connection = _ProcessConnection()
DROP_LOG_INTERVAL_SECONDS = 60
_last_drop_logged = 0.0


def publish_json(topic: str, value) -> bool:
    connection = process_connection.get()
    if connection.publish(topic, _json(value)):
        return True
    _log_drop(connection)
    return False


def _log_drop(connection: ServerConnection) -> None:
    global _last_drop_logged
    if time.monotonic() - _last_drop_logged > DROP_LOG_INTERVAL_SECONDS:
        _last_drop_logged = time.monotonic()
        logger.warning(
            "broadcasts dropped: the broker is unreachable (%d so far in this process)",
            connection.stats["dropped_broker_down"],
        )


def stamp_published(messages: list[dict]) -> list[dict]:
    now = timezone.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for message in messages:
        message["published_at"] = now
    return messages


# One broadcast packet holds at most this much JSON: a busy window is split into several
# arrays, each well under the broker's max_packet_size (chatrooms/realtime/broker.py).
ARRAY_MAX_BYTES = 128 * 1024


def pack_arrays(encoded: list[bytes], limit: int = ARRAY_MAX_BYTES) -> list[bytes]:
    """Encoded messages as JSON arrays of at most ``limit`` bytes each (a single larger
    message goes alone), in order."""
    arrays, current, size = [], [], 2
    for item in encoded:
        if current and size + len(item) + 1 > limit:
            arrays.append(b"[" + b",".join(current) + b"]")
            current, size = [], 2
        current.append(item)
        size += len(item) + 1
    if current:
        arrays.append(b"[" + b",".join(current) + b"]")
    return arrays


def broadcast(room_id, *, viewers: list[dict], admins: list[dict]) -> None:
    """Publish now: ``viewers`` to the room's topic, ``admins`` to its admin topic
    (which carries everything viewers get, so admins subscribe to one topic). A message
    in both lists (the same dict) is encoded once."""
    stamp_published(list({id(m): m for m in [*viewers, *admins]}.values()))
    encoded: dict[int, bytes] = {}

    def encode(message: dict) -> bytes:
        if id(message) not in encoded:
            encoded[id(message)] = _json(message)
        return encoded[id(message)]

    connection = process_connection.get()
    for topic, messages in (
        (topics.viewer_topic(room_id), viewers),
        (topics.admin_topic(room_id), admins),
    ):
        if not messages:
            continue
        for payload in pack_arrays([encode(m) for m in messages]):
            if not connection.publish(topic, payload):
                _log_drop(connection)


def announce(
    room_id, message: dict, *, admin_message: dict | None = None, admins_only: bool = False
) -> None:
    """After the current transaction commits, broadcast one system event (as a
    one-element array). ``admin_message`` is what admins get when it differs
    (a quiz poll's answers); ``admins_only`` keeps it from viewers altogether."""

    def send():
        broadcast(
            room_id,
            viewers=[] if admins_only else [message],
            admins=[admin_message or message],
        )

    transaction.on_commit(send)


def end_sessions(*, room, user: str | None = None) -> None:
    """After commit, have the broker disconnect the room's clients (or one user's)."""
    kick = {"room": str(room)} if user is None else {"room": str(room), "user": user}
    transaction.on_commit(lambda: publish_json(topics.CONTROL_TOPIC, {"kick": kick}))


def wait_connected(timeout: float) -> bool:
    """For commands and tests: wait until this process's connection is up."""
    deadline = time.monotonic() + timeout
    connection = process_connection.get()
    return connection.connected.wait(max(0.0, deadline - time.monotonic()))
