"""The realtime link through the shipped nginx site: wss://…/mqtt, as the SDKs connect.

nginx (deploy/nginx/chatroom.conf, rendered by bench/serving.py) terminates TLS and
upgrades /mqtt to the WebSocket relay in front of the test broker, whose auth plugin asks
the live server about the CONNECT: the whole production path of a client's connection.
"""

import pytest
from paho.mqtt import client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from bench import serving
from chatrooms import auth
from chatrooms.models import Role
from tests.realtime.conftest import WAIT, ChatClient, android_username, fetch_config
from tests.realtime.test_relay import handshake

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        serving.nginx_binary() is None,
        reason="nginx is not installed (apt-get install nginx; CI installs it)",
    ),
]


@pytest.fixture
def nginx(broker, tmp_path):
    # No gunicorn here: only /mqtt is used, and it goes to the relay.
    with serving.Nginx(
        prefix=tmp_path / "nginx",
        static_root=tmp_path,
        app_port=serving.free_port(),
        relay_port=broker.ws_port,
    ) as running:
        yield running


def test_an_sdk_connects_and_subscribes_over_wss_through_nginx(nginx, room):
    config = fetch_config(auth.chatroom_token_issue(room=room, role=Role.VIEWER).token)
    connection = config["connection"]
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=connection["client_id"],
        protocol=mqtt.MQTTv5,
        transport="websockets",
    )
    client.ws_set_options(path="/mqtt")
    client.tls_set_context(nginx.tls)
    client.username_pw_set(android_username(connection))
    chat = ChatClient(config=config, client=client)
    client.on_connect = lambda _c, _u, _f, rc, _p: chat.connack.put(rc)
    client.on_subscribe = lambda _c, _u, _mid, codes, _p: chat.suback.put(codes)
    client.connect("127.0.0.1", nginx.https_port, keepalive=10, clean_start=True)
    client.loop_start()
    try:
        # CONNECT went out through nginx and the relay, the broker asked the app, and
        # the CONNACK came back the same way.
        assert not chat.connack.get(timeout=WAIT).is_failure
        client.subscribe(chat.sub, options=SubscribeOptions(qos=0, noLocal=True))
        [granted] = chat.suback.get(timeout=WAIT)
        assert not granted.is_failure
    finally:
        chat.close()


def upgrade(nginx, path: str) -> bytes:
    """The raw WebSocket upgrade request, over TLS to nginx; the answer's head."""
    with serving.connect(nginx.https_port, nginx.tls, timeout=WAIT) as sock:
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
            ).encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
        return answer


def test_nginx_upgrades_mqtt_to_the_relay_and_nothing_else(nginx):
    answer = upgrade(nginx, "/mqtt")
    assert answer.startswith(b"HTTP/1.1 101")
    assert b"Sec-WebSocket-Protocol: mqtt" in answer
    # With a query string too (clients whose token travels in the URL).
    assert upgrade(nginx, "/mqtt?token=x").startswith(b"HTTP/1.1 101")
    # Elsewhere the request goes to the app (not running here), never to the relay.
    assert upgrade(nginx, "/mqtt/other").startswith(b"HTTP/1.1 502")
    # Plain HTTP is redirected to HTTPS, not relayed.
    assert handshake(nginx.http_port).startswith(b"HTTP/1.1 301")
