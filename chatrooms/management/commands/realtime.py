"""The realtime worker: consume, store and broadcast the rooms' MQTT messages."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand
from prometheus_client import start_http_server

from chatrooms.realtime.worker import Worker

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run a realtime worker: it consumes every room's publish topic (an MQTT 5 shared "
        "subscription, so several workers split the load), stores messages in batches "
        "and broadcasts them. SIGTERM finishes the current batches and exits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", default="worker", help="Shown in the broker and logs.")

    def handle(self, *args, name, **options):
        port = settings.CHATROOM_REALTIME_METRICS_PORT
        if port:
            # Its own metrics (docs/deploy.md, "Metrics"), on loopback only. A second
            # worker on the machine finds the port taken: it runs without.
            try:
                start_http_server(port, addr="127.0.0.1")
                logger.info("metrics on http://127.0.0.1:%d/metrics", port)
            except OSError as exc:
                logger.warning("metrics not served: 127.0.0.1:%d: %s", port, exc)
        worker = Worker(name=name)
        worker.install_signal_handlers()
        worker.run()
