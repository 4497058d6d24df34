"""The WebSocket relay and the broadcast packets: shapes clients depend on."""

import json
import socket
import time

import pytest

from chatrooms.realtime.publisher import pack_arrays


def test_messages_are_split_into_arrays_under_the_limit_in_order():
    messages = [{"n": i, "text": "y" * 100} for i in range(50)]
    arrays = pack_arrays([json.dumps(m).encode() for m in messages], limit=1000)
    assert len(arrays) > 1
    assert all(len(a) <= 1000 for a in arrays)
    assert [m["n"] for a in arrays for m in json.loads(a)] == list(range(50))
    big = json.dumps({"text": "z" * 5000}).encode()
    [alone] = pack_arrays([big], limit=1000)  # too big to split: alone
    assert json.loads(alone) == [{"text": "z" * 5000}]
    assert pack_arrays([]) == []


def handshake(port: int, path: str = "/mqtt", protocol: str | None = "mqtt") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        lines = [
            f"GET {path} HTTP/1.1",
            "Host: 127.0.0.1",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ]
        if protocol:
            lines.append(f"Sec-WebSocket-Protocol: {protocol}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.django_db(transaction=True)
def test_the_relay_speaks_mqtt_at_mqtt_only(broker):
    assert handshake(broker.ws_port).startswith(b"HTTP/1.1 101")
    assert b"Sec-WebSocket-Protocol: mqtt" in handshake(broker.ws_port)
    assert handshake(broker.ws_port, path="/other").startswith(b"HTTP/1.1 404")
    # Without the mqtt subprotocol the handshake completes, then the relay closes
    # the connection (close code 1002) before anything reaches the broker.
    assert b"Sec-WebSocket-Protocol" not in handshake(broker.ws_port, protocol=None)
