"""Run the project's Mosquitto with the project's configuration."""

import os
import shutil
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatrooms.realtime.broker import write_config


class Command(BaseCommand):
    help = (
        "Write the broker configuration from settings (MQTT on CHATROOM_BROKER_PORT, "
        "never anonymous, the auth plugin calling CHATROOM_BROKER_AUTH_URL) and run "
        "Mosquitto with it. WebSocket clients come through `manage.py wsrelay`."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--config-dir",
            default=str(Path(settings.BASE_DIR) / "var" / "broker"),
            help="Where to write mosquitto.conf and the secret file (kept private).",
        )
        parser.add_argument("--bind", default="127.0.0.1")
        parser.add_argument("--write-only", action="store_true", help="Write, do not run.")
        parser.add_argument("--verbose", action="store_true")

    def handle(self, *args, config_dir, bind, write_only, verbose, **options):
        try:
            conf = write_config(
                Path(config_dir),
                tcp_port=settings.CHATROOM_BROKER_PORT,
                auth_url=settings.CHATROOM_BROKER_AUTH_URL,
                bind=bind,
                verbose=verbose,
            )
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
        if write_only:
            self.stdout.write(str(conf))
            return
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(mosquitto).exists():
            raise CommandError("mosquitto is not installed (apt-get install mosquitto)")
        self.stdout.write(f"broker: mqtt://{bind}:{settings.CHATROOM_BROKER_PORT}")
        self.stdout.flush()
        # Replace this process, so signals (Ctrl-C, systemd's stop) reach Mosquitto itself.
        os.execv(mosquitto, [mosquitto, "-c", str(conf)])  # noqa: S606
