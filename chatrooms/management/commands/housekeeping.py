import time

from django.core.management.base import BaseCommand

from chatrooms.housekeeping import housekeeping_run


class Command(BaseCommand):
    help = (
        "Run one housekeeping pass: delete messages past their room's ttl, expired "
        "refresh tokens and sessions, applied counter increments, spent slow-mode rows, "
        "old task-queue rows and report files; fail reports stuck running. The realtime "
        "worker runs one every CHATROOM_HOUSEKEEPING_INTERVAL_SECONDS (docs/deploy.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what a pass would delete; change nothing."
        )

    def handle(self, *args, dry_run, **options):
        started = time.monotonic()
        counts = housekeeping_run(dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(f"housekeeping {verb} ({time.monotonic() - started:.2f} s):")
        for kind, n in counts.items():
            self.stdout.write(f"  {kind}: {n}")
