"""Seal what is ready, walk the audit log's hash chain and report the first entry where
it breaks, and how many entries still wait to be sealed."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Min
from django.utils import timezone

from chatrooms import auditchain
from chatrooms.models import AuditChainHead, AuditLogEntry

FIELDS = ("id", "entry_hash", *auditchain.HASHED_FIELDS)
# The realtime worker seals every second: an entry unsealed for longer than this means
# no sealer runs (or a transaction somewhere in the cluster has been open that long).
STALE_UNSEALED = timedelta(minutes=1)


def _anchor(value: str) -> tuple[int, str]:
    sequence, _, entry_hash = value.partition(":")
    if not sequence.isdigit() or len(entry_hash) != 64:
        raise ValueError(value)
    return int(sequence), entry_hash.lower()


class Command(BaseCommand):
    help = (
        "Seal the entries that are ready (unless --no-seal), then check the audit log's "
        "hash chain in sequence order, in batches, up to the chain head as it was when the "
        "check started. Prints OK with the count and how many entries are still unsealed, "
        "or the first entry where the chain breaks (an entry changed, missing, moved or "
        "re-hashed) and exits with status 1. See docs/audit.md."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--from",
            dest="start",
            type=int,
            default=1,
            help="Start at this sequence number, trusting the hash stored in the entry "
            "before it (for a quick check after an earlier full one).",
        )
        parser.add_argument(
            "--anchor",
            type=_anchor,
            help="SEQUENCE:HASH recorded earlier outside the database (the last line of an "
            "earlier run): fails if that entry's hash is no longer the same, which shows "
            "the whole chain was rewritten from there back.",
        )
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument(
            "--no-seal",
            dest="seal",
            action="store_false",
            help="Only check: do not seal the entries that are ready first.",
        )
        parser.add_argument(
            "--max-unsealed-age",
            type=float,
            metavar="SECONDS",
            help="Fail (status 1) if an entry has waited longer than this to be sealed: "
            "no sealer runs.",
        )

    def handle(self, *args, start, anchor, batch_size, seal, max_unsealed_age, **options):
        if start < 1:
            raise CommandError("--from is a sequence number, 1 or more.")
        if seal:
            sealed = auditchain.seal()
            self.stdout.write(f"Sealed {sealed} entries.")
        head = AuditChainHead.objects.filter(pk=1).values_list("sequence", "entry_hash").first()
        entries = AuditLogEntry.objects.order_by("sequence").values(*FIELDS)
        if head is not None:
            entries = entries.filter(sequence__lte=head[0])
        prev_hash = auditchain.GENESIS_HASH
        if start > 1:
            before = (
                AuditLogEntry.objects.filter(sequence=start - 1)
                .values_list("entry_hash", flat=True)
                .first()
            )
            if before is None:
                self.fail(start - 1, f"entry #{start - 1} is missing.", checked=0)
            prev_hash = before

        def batches():
            after = start - 1
            while True:
                rows = list(entries.filter(sequence__gt=after)[:batch_size])
                yield from rows
                if len(rows) < batch_size:
                    return
                after = rows[-1]["sequence"]

        checked, last, last_hash, anchor_seen = 0, start - 1, prev_hash, False
        rows = batches()

        def remember(stream):
            nonlocal last_hash
            for row in stream:
                last_hash = row["entry_hash"]
                yield row

        for result in auditchain.find_break(
            remember(rows), first_sequence=start, prev_hash=prev_hash
        ):
            if isinstance(result, auditchain.Break):
                self.fail(result.sequence, result.message, checked=checked)
            checked, last = checked + 1, result
            if anchor is not None and result == anchor[0]:
                anchor_seen = True
                if last_hash != anchor[1]:
                    self.fail(
                        result,
                        f"entry #{result}'s hash is not the recorded {anchor[1]}: the chain "
                        "was rewritten from there or earlier.",
                        checked=checked - 1,
                    )

        if head is None:
            if last >= 1:
                self.fail(last + 1, "the chain head is missing.", checked=checked)
        elif last < head[0]:
            missing = f"#{last + 1}" if last + 1 == head[0] else f"#{last + 1} to #{head[0]}"
            self.fail(
                last + 1,
                f"entry {missing} is missing: the chain head is #{head[0]}.",
                checked=checked,
            )
        elif last >= start and last_hash != head[1]:
            self.fail(last, f"entry #{last}'s hash is not the chain head's.", checked=checked)
        if anchor is not None and not anchor_seen:
            self.fail(anchor[0], f"the anchor entry #{anchor[0]} was not checked.", checked)
        if checked:
            self.stdout.write(f"Audit log OK: {checked} entries verified (#{start} to #{last}).")
        else:
            self.stdout.write("Audit log OK: 0 entries verified (no sealed entries).")
        self.report_unsealed(max_unsealed_age)
        if checked:
            self.stdout.write(f"Head: {last}:{last_hash}")

    def report_unsealed(self, max_age: float | None) -> None:
        """How many entries wait to be sealed; until then only the database's
        privileges protect them (docs/audit.md)."""
        waiting = AuditLogEntry.objects.filter(sequence__isnull=True).aggregate(
            count=Count("id"), oldest=Min("created_at")
        )
        if not waiting["count"]:
            self.stdout.write("Unsealed: none.")
            return
        age = timezone.now() - waiting["oldest"]
        line = (
            f"Unsealed: {waiting['count']} entries, the oldest written "
            f"{age.total_seconds():.1f} s ago."
        )
        if age > STALE_UNSEALED:
            line += (
                " No sealer seems to run: start the realtime worker (it seals every "
                "second), or look for a transaction left open in the database cluster."
            )
        self.stdout.write(line)
        if max_age is not None and age.total_seconds() > max_age:
            raise CommandError(
                f"An audit entry has waited {age.total_seconds():.1f} s to be sealed "
                f"(more than --max-unsealed-age {max_age:g})."
            )

    def fail(self, sequence: int, message: str, checked: int):
        raise CommandError(
            f"Audit log chain broken at entry #{sequence}: {message} "
            f"({checked} entries before it verified.)"
        )
