"""Serve MQTT over WebSocket at /mqtt, relayed to the broker's TCP listener."""

from django.conf import settings
from django.core.management.base import BaseCommand

from chatrooms.realtime import relay
from chatrooms.realtime.broker import MAX_PACKET_BYTES


class Command(BaseCommand):
    help = (
        "Serve MQTT over WebSocket (ws://<bind>:CHATROOM_BROKER_WS_PORT/mqtt, subprotocol "
        "mqtt) and relay every connection to the broker's TCP listener. In production "
        "nginx terminates TLS on 443 in front of it. SIGTERM stops it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1")

    def handle(self, *args, bind, **options):
        self.stdout.write(f"relay: ws://{bind}:{settings.CHATROOM_BROKER_WS_PORT}/mqtt")
        self.stdout.flush()
        relay.serve_forever(
            host=bind,
            port=settings.CHATROOM_BROKER_WS_PORT,
            broker_host=settings.CHATROOM_BROKER_HOST,
            broker_port=settings.CHATROOM_BROKER_PORT,
            max_message_bytes=MAX_PACKET_BYTES,
        )
