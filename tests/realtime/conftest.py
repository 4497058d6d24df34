"""A real broker, a real worker and real MQTT 5 clients for the realtime tests.

The broker is the project's Mosquitto with the project's configuration
(``chatrooms.realtime.broker.write_config``, as ``manage.py broker`` writes it) on
free ports, its auth plugin calling the live server. The worker runs in a thread of
the test process, so it shares the test database.
"""

from __future__ import annotations

import asyncio
import json
import queue
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
import pytest
from django.db import OperationalError, connection
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions
from rest_framework.test import APIClient

from chatrooms import auth
from chatrooms.models import Role
from chatrooms.realtime import publisher, relay
from chatrooms.realtime.broker import MAX_PACKET_BYTES, plugin_path, write_config
from chatrooms.realtime.worker import Worker

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
WAIT = 10.0  # seconds: generous for a loaded CI machine; waits end as soon as satisfied


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = WAIT, interval: float = 0.02):
    """Poll until ``predicate()`` is true. On SQLite the tests share one in-memory
    database with the worker thread, and a read can meet the worker's table lock
    ("database table is locked"): that is "not yet", so poll again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
        except OperationalError:
            if connection.vendor != "sqlite":
                raise
            result = None
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


class Relay:
    """chatrooms.realtime.relay on its own event loop in a thread."""

    def __init__(self, port: int, broker_port: int):
        self.port, self.broker_port = port, broker_port
        self.loop = asyncio.new_event_loop()
        self.stopping: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.stopping = asyncio.Event()
        self.loop.run_until_complete(
            relay.run(
                host="127.0.0.1",
                port=self.port,
                broker_host="127.0.0.1",
                broker_port=self.broker_port,
                max_message_bytes=MAX_PACKET_BYTES,
                stop=self.stopping,
            )
        )

    def start(self):
        self.thread.start()
        wait_for(lambda: _listening(self.port))

    def stop(self):
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)


@dataclass
class Broker:
    """The project's Mosquitto (MQTT over TCP) and the WebSocket relay in front of it."""

    tcp_port: int
    ws_port: int
    config: object
    log: object
    process: subprocess.Popen | None = None
    relay: Relay | None = None

    def start(self):
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)], stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for(lambda: _listening(self.tcp_port))
        if self.relay is None:
            self.relay = Relay(self.ws_port, self.tcp_port)
            self.relay.start()

    def stop(self):
        """Stop the broker (the relay stays, as in production: it is a separate process)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)

    def stop_all(self):
        self.stop()
        if self.relay is not None:
            self.relay.stop()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def broker_auth_server(live_server):
    """The live server whose auth endpoint the broker asks about each CONNECT; tests
    that run their own live server (the console's browser tests) override this."""
    return live_server


@pytest.fixture
def broker(broker_auth_server, settings, tmp_path):
    if not plugin_path().exists():
        pytest.fail(f"{plugin_path()} is missing: `make test` builds it (make -C broker)")
    tcp, ws = free_port(), free_port()
    # The tests' broker, not a developer's: the server side of this process talks to it.
    settings.CHATROOM_BROKER_PORT = tcp
    settings.CHATROOM_BROKER_WS_PORT = ws
    settings.CHATROOM_REALTIME_URL = f"ws://127.0.0.1:{ws}/mqtt"
    conf = write_config(
        tmp_path / "broker",
        tcp_port=tcp,
        auth_url=broker_auth_server.url + "/internal/realtime/auth",
        verbose=True,
    )
    with open(tmp_path / "broker.log", "w") as log:
        running = Broker(tcp_port=tcp, ws_port=ws, config=conf, log=log)
        running.start()
        publisher.process_connection.reset()
        yield running
        publisher.process_connection.reset()
        running.stop_all()


@pytest.fixture
def worker(broker):
    running = Worker(name="test-worker")
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    wait_for(running.connection.connected.is_set)
    # Give the broker a moment to register the shared subscription.
    time.sleep(0.1)
    yield running
    running.stop()
    thread.join(10)
    assert not thread.is_alive()


@pytest.fixture
def web_publisher(broker):
    """This process's server connection (what services broadcast through), up."""
    assert publisher.wait_connected(WAIT)
    return publisher.process_connection.get()


def fetch_config(token: str) -> dict:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get("/bv/chatroom/v1/chatrooms/config")
    assert response.status_code == 200, response.content
    return response.json()


def android_username(connection: dict) -> str:
    """The CONNECT username the Android SDK 1.4.0 builds (realtime.md section 1)."""
    query = urllib.parse.urlencode(
        {
            "x-amz-customauthorizer-name": connection["authorizer"],
            "x-amz-customauthorizer-signature": connection["signature"],
            "x-token": connection["token"],
        }
    )
    return f"username?{query}"


@dataclass
class ChatClient:
    """An MQTT 5 client as an upstream SDK drives it. ``arrays`` holds every payload
    received, parsed; ``connack`` and ``suback`` the broker's answers."""

    config: dict
    client: mqtt.Client
    arrays: queue.Queue = field(default_factory=queue.Queue)
    connack: queue.Queue = field(default_factory=queue.Queue)
    suback: queue.Queue = field(default_factory=queue.Queue)
    disconnected: threading.Event = field(default_factory=threading.Event)
    raw: list = field(default_factory=list)

    @property
    def pub(self) -> str:
        return self.config["topic"]["pub"]

    @property
    def sub(self) -> str:
        return self.config["topic"]["sub"]

    def send(self, body: dict | bytes | str, topic: str | None = None):
        payload = body if isinstance(body, bytes | str) else json.dumps(body)
        return self.client.publish(topic or self.pub, payload, qos=0)

    def subscribe(self, topic: str) -> list:
        self.client.subscribe(
            topic,
            options=SubscribeOptions(qos=0, noLocal=True, retainAsPublished=True, retainHandling=2),
        )
        return self.suback.get(timeout=WAIT)

    def messages(self, timeout: float = WAIT, *, until=None) -> list[dict]:
        """Messages received until ``until(messages)`` holds (or one array arrives)."""
        got: list[dict] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; received so far: {got}")
            try:
                array = self.arrays.get(timeout=remaining)
            except queue.Empty:
                continue
            got.extend(array)
            if until is None or until(got):
                return got

    def nothing_for(self, seconds: float) -> list:
        time.sleep(seconds)
        leftovers = []
        while not self.arrays.empty():
            leftovers.extend(self.arrays.get())
        return leftovers

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def connect(
    broker: Broker,
    config: dict,
    *,
    form: str = "android",
    transport: str = "websockets",
    subscribe: bool = True,
    client_id: str | None = None,
) -> ChatClient:
    """Connect as the Android SDK does (``form="android"``: MQTT 5 over WebSocket at
    /mqtt, the custom-authorizer username, the client id from the config, keepalive
    10 s, clean start, subscribe to topic.sub with noLocal), or with the token as the
    password (``"password"``), or with only the signed client id (``"client_id"``)."""
    connection = config["connection"]
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or connection["client_id"],
        protocol=mqtt.MQTTv5,
        transport=transport,
    )
    if transport == "websockets":
        client.ws_set_options(path="/mqtt")
    if form == "android":
        client.username_pw_set(android_username(connection))
    elif form == "password":
        client.username_pw_set("anyone", connection["token"])
    chat = ChatClient(config=config, client=client)

    def on_message(_c, _u, message):
        chat.raw.append(message)
        chat.arrays.put(json.loads(message.payload))

    client.on_message = on_message
    client.on_connect = lambda _c, _u, _f, rc, _p: chat.connack.put(rc)
    client.on_subscribe = lambda _c, _u, _mid, codes, _p: chat.suback.put(codes)
    client.on_disconnect = lambda *_args: chat.disconnected.set()
    port = broker.ws_port if transport == "websockets" else broker.tcp_port
    client.connect("127.0.0.1", port, keepalive=10, clean_start=True)
    client.loop_start()
    rc = chat.connack.get(timeout=WAIT)
    chat.connack.put(rc)
    if subscribe and not rc.is_failure:
        codes = chat.subscribe(chat.sub)
        assert not codes[0].is_failure, codes
    return chat


def connack(chat: ChatClient):
    return chat.connack.queue[0]


@pytest.fixture
def chat_clients(broker):
    """Open clients with ``chat_clients(room, role=..., form=..., **claims)``; all are
    closed at the end."""
    opened: list[ChatClient] = []

    def open_client(room, role=Role.VIEWER, *, form="android", transport="websockets", **claims):
        issued = auth.chatroom_token_issue(room=room, role=role, **claims)
        chat = connect(broker, fetch_config(issued.token), form=form, transport=transport)
        chat.issued = issued
        opened.append(chat)
        return chat

    yield open_client
    for chat in opened:
        chat.close()
