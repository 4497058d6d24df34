"""The realtime worker: consume, store and broadcast the rooms' MQTT messages."""

from django.core.management.base import BaseCommand

from chatrooms.realtime.worker import Worker


class Command(BaseCommand):
    help = (
        "Run a realtime worker: it consumes every room's publish topic (an MQTT 5 shared "
        "subscription, so several workers split the load), stores messages in batches "
        "and broadcasts them. SIGTERM finishes the current batches and exits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", default="worker", help="Shown in the broker and logs.")

    def handle(self, *args, name, **options):
        worker = Worker(name=name)
        worker.install_signal_handlers()
        worker.run()
