"""A WebSocket-to-TCP relay in front of the broker's MQTT listener.

Why not Mosquitto's own WebSocket listener: in Debian's Mosquitto 2.0.11 it writes a
large message one piece of about 4 KB per turn of its main loop, and a turn lasts up to
100 ms, so a batch window's array takes seconds to arrive (measured here, one
subscriber, one message every 0.37 s: 8 KB took 100 ms, 17 KB 1.2 s with 2 of 20
lost, 60 KB 4.4 s with 14 of 20 lost; over TCP each took under 1.5 ms). It also answers
each WebSocket handshake only after 100-200 ms. This relay terminates the WebSocket
(subprotocol ``mqtt``, path ``/mqtt``) and passes the bytes both ways to the broker's
TCP listener unchanged, so the broker and its auth plugin see an ordinary MQTT client.
Clients handle MQTT packets split across or packed into WebSocket messages, as the
MQTT-over-WebSocket binding allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

logger = logging.getLogger(__name__)

PATH = "/mqtt"
SUBPROTOCOL = "mqtt"
READ_BYTES = 64 * 1024


def _reject_other_paths(connection: ServerConnection, request):
    if request.path.split("?", 1)[0] != PATH:
        return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
    return None  # go on with the handshake


async def _pump_to_broker(websocket: ServerConnection, writer: asyncio.StreamWriter) -> None:
    async for message in websocket:
        if isinstance(message, str):
            return  # MQTT over WebSocket is binary only
        writer.write(message)
        await writer.drain()


async def _pump_to_client(reader: asyncio.StreamReader, websocket: ServerConnection) -> None:
    while data := await reader.read(READ_BYTES):
        await websocket.send(data)


async def _relay(websocket: ServerConnection, *, broker_host: str, broker_port: int) -> None:
    if websocket.subprotocol != SUBPROTOCOL:
        await websocket.close(1002, "the subprotocol must be mqtt")
        return
    try:
        reader, writer = await asyncio.open_connection(broker_host, broker_port)
    except OSError as exc:
        logger.warning("relay: the broker is unreachable (%s)", exc)
        await websocket.close(1011, "the broker is unreachable")
        return
    tasks = [
        asyncio.create_task(_pump_to_broker(websocket, writer)),
        asyncio.create_task(_pump_to_client(reader, websocket)),
    ]
    try:
        # Whichever side ends first ends the other: a client that goes away
        # disconnects from the broker (its will, keepalive and session apply there),
        # and a broker that closes the connection (a kick) closes the WebSocket.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, OSError):
                await task
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        await websocket.close()


async def run(
    *,
    host: str,
    port: int,
    broker_host: str,
    broker_port: int,
    max_message_bytes: int,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or SIGTERM/SIGINT when run as a command)."""
    stop = stop or asyncio.Event()

    async def handler(websocket: ServerConnection) -> None:
        await _relay(websocket, broker_host=broker_host, broker_port=broker_port)

    async with serve(
        handler,
        host,
        port,
        subprotocols=[SUBPROTOCOL],
        process_request=_reject_other_paths,
        max_size=max_message_bytes,
        compression=None,  # MQTT payloads are small JSON: not worth the CPU per client
        ping_interval=None,  # MQTT's own keepalive watches the connection
        close_timeout=2,
    ):
        logger.info(
            "relay: ws://%s:%d%s -> mqtt://%s:%d", host, port, PATH, broker_host, broker_port
        )
        await stop.wait()


def serve_forever(**kwargs) -> None:
    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run(stop=stop, **kwargs)

    asyncio.run(main())
