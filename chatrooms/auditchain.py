"""The audit log's hash chain: what an entry's hash covers, how entries are sealed into
the chain, and how the chain is checked.

Entries are inserted unsealed, with no lock (an audited write never waits for another).
``seal()``, run about once a second by the realtime worker and by ``verify_audit_log``,
then integrates them, as a transparency log's sequencer does: it gives each a gapless
``sequence``, the previous entry's hash and its own: SHA-256 over a canonical JSON
serialisation of the version, the sequence, the previous hash, the time and every field
of the action. Changing, deleting, inserting or reordering a sealed entry breaks the
chain at that entry, and ``python manage.py verify_audit_log`` names the first one
(docs/audit.md).

The hashing is pure (no models, no queries); ``seal()`` is the one function here that
reads and writes the database. Version 1 must never change; a new serialisation gets a
new ``HASH_VERSION`` and both stay verifiable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL

HASH_VERSION = 1
GENESIS_HASH = "0" * 64  # the "previous hash" of entry #1

# The model fields (attnames) an entry's hash covers, besides the chain's own.
CONTENT_FIELDS = (
    "action",
    "source",
    "actor_kind",
    "actor_user_id",
    "actor_id",
    "actor_name",
    "room_id",
    "target_type",
    "target_id",
    "reason",
    "before",
    "after",
)
CHAIN_FIELDS = ("hash_version", "sequence", "prev_hash", "created_at")
HASHED_FIELDS = CHAIN_FIELDS + CONTENT_FIELDS


def _canonical_json(value):
    """JSON values as the database gives them back: PostgreSQL's jsonb stores numbers
    as numeric, so 1e16 comes back as the integer 10000000000000000. An integral float
    is hashed as that integer on both sides of the round trip."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(key): _canonical_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_json(item) for item in value]
    return value


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_digest(fields: Mapping) -> str:
    """The hex SHA-256 of one entry, from its field values by attname."""
    version = fields["hash_version"]
    if version != 1:
        raise ValueError(f"Unknown audit hash version {version!r}.")
    payload = {
        "v": 1,
        "sequence": fields["sequence"],
        "prev_hash": fields["prev_hash"],
        "created_at": _timestamp(fields["created_at"]),
    }
    for name in CONTENT_FIELDS:
        value = fields[name]
        if name == "room_id" and value is not None:
            value = str(value)
        payload[name] = _canonical_json(value)
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first entry where the chain does not hold."""

    sequence: int
    entry_id: int | None
    message: str


def find_break(
    rows: Iterable[Mapping], *, first_sequence: int = 1, prev_hash: str = GENESIS_HASH
) -> Iterator[Break | int]:
    """Walk rows in sequence order; yield each verified sequence number, and stop after
    yielding a Break at the first entry that does not fit."""
    expected = first_sequence
    for row in rows:
        sequence = row["sequence"]
        if sequence != expected:
            missing = (
                f"#{expected}" if sequence == expected + 1 else f"#{expected} to #{sequence - 1}"
            )
            yield Break(
                expected,
                None,
                f"entry {missing} is missing: the next entry is #{sequence} (id {row['id']}).",
            )
            return
        if row["prev_hash"] != prev_hash:
            before = sequence - 1
            yield Break(
                sequence,
                row["id"],
                f"entry #{sequence} (id {row['id']}) does not follow #{before}: its previous "
                f"hash differs from #{before}'s hash (#{before} was altered or replaced, or "
                "this entry was moved).",
            )
            return
        if row["hash_version"] != HASH_VERSION or entry_digest(row) != row["entry_hash"]:
            yield Break(
                sequence,
                row["id"],
                f"entry #{sequence} (id {row['id']}) does not match its hash: its content, "
                "time, position or hash was changed.",
            )
            return
        prev_hash = row["entry_hash"]
        expected += 1
        yield sequence


# --- sealing ------------------------------------------------------------------------

SEAL_BATCH = 10_000  # entries per sealing transaction

# PostgreSQL: the oldest transaction id still running anywhere in the cluster. Every
# transaction below it has ended, so the entries below it that are visible now are all
# there will ever be: sealing them in (xid, id) order gives an order no later commit can
# change.
_HORIZON = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
# The sealing transaction's own id: entries it wrote itself (a test's transaction) are
# visible to it and commit with their seals or not at all.
_OWN_XID = "pg_current_xact_id_if_assigned()::text::bigint"


def seal(
    *, using: str = DEFAULT_DB_ALIAS, batch_size: int = SEAL_BATCH, max_batches: int | None = None
) -> int:
    """Seal the entries that are ready, ``batch_size`` per transaction, and return how
    many were sealed. One sealer runs at a time: each batch locks the chain head row
    (another sealer waits for it). Inserting an entry never takes that lock.

    On PostgreSQL an entry is ready once every transaction that began writing before
    its own has ended (its transaction id is below the snapshot's xmin), and entries
    are sealed in (transaction id, id) order; on SQLite, where one transaction writes
    at a time, every committed entry is ready, in id order."""
    from chatrooms.models import AuditLogEntry

    sealed = batches = 0
    waiting = AuditLogEntry.objects.using(using).filter(sequence__isnull=True)
    # A cheap look first (the partial index of unsealed entries): most calls find
    # nothing and then take no lock and write nothing.
    while (max_batches is None or batches < max_batches) and waiting.exists():
        count = _seal_batch(using, batch_size)
        sealed, batches = sealed + count, batches + 1
        if count < batch_size:
            break
    return sealed


def _seal_batch(using: str, batch_size: int) -> int:
    from chatrooms.models import AuditChainHead, AuditLogEntry

    connection = connections[using]
    postgres = connection.vendor == "postgresql"
    entries = AuditLogEntry.objects.using(using)
    head_table = connection.ops.quote_name(AuditChainHead._meta.db_table)
    entry_table = connection.ops.quote_name(AuditLogEntry._meta.db_table)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        sequence, prev_hash = _lock_head(cursor, head_table, postgres, using)
        ready = entries.filter(sequence__isnull=True)
        if postgres:
            # One statement, so one snapshot: the horizon and the rows it shows agree.
            horizon, own = RawSQL(_HORIZON, ()), RawSQL(_OWN_XID, ())  # noqa: S611 (constants)
            ready = ready.filter(Q(xid__lt=horizon) | Q(xid=own))
        fields = ("id", "created_at", "hash_version", *CONTENT_FIELDS)
        rows = list(ready.order_by("xid", "id").values(*fields)[:batch_size])
        if not rows:
            return 0
        seals = []
        for row in rows:
            sequence += 1
            row.update(sequence=sequence, prev_hash=prev_hash)
            entry_hash = entry_digest(row)
            seals.append((row["id"], sequence, prev_hash, entry_hash))
            prev_hash = entry_hash
        if postgres:
            ids, sequences, prev_hashes, entry_hashes = (
                list(column) for column in zip(*seals, strict=True)
            )
            cursor.execute(
                f"UPDATE {entry_table} AS e SET sequence = s.sequence, "  # noqa: S608
                "prev_hash = s.prev_hash, entry_hash = s.entry_hash "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) "
                "AS s(id, sequence, prev_hash, entry_hash) WHERE e.id = s.id",
                [ids, sequences, prev_hashes, entry_hashes],
            )
        else:
            cursor.executemany(
                f"UPDATE {entry_table} SET sequence = %s, prev_hash = %s, entry_hash = %s "  # noqa: S608
                "WHERE id = %s",
                [(seq, prev, digest, pk) for pk, seq, prev, digest in seals],
            )
        cursor.execute(
            f"UPDATE {head_table} SET sequence = %s, entry_hash = %s WHERE id = 1",  # noqa: S608
            [sequence, prev_hash],
        )
    return len(rows)


def _lock_head(cursor, head_table: str, postgres: bool, using: str) -> tuple[int, str]:
    """(sequence, hash) of the last sealed entry, with the head locked until the
    transaction ends. On SQLite the transaction already holds the database's write lock
    (transaction_mode IMMEDIATE), so no sealer or writer runs meanwhile."""
    from chatrooms.models import AuditChainHead, AuditLogEntry

    lock = f"SELECT sequence, entry_hash FROM {head_table} WHERE id = 1"  # noqa: S608
    if postgres:
        lock += " FOR UPDATE"
    cursor.execute(lock)
    head = cursor.fetchone()
    if head is None:
        # Emptied by a test database flush (TRUNCATE): go on after the last sealed entry.
        last = (
            AuditLogEntry.objects.using(using)
            .filter(sequence__isnull=False)
            .order_by("-sequence")
            .values_list("sequence", "entry_hash")
            .first()
        ) or (0, GENESIS_HASH)
        AuditChainHead.objects.using(using).bulk_create(
            [AuditChainHead(pk=1, sequence=last[0], entry_hash=last[1])], ignore_conflicts=True
        )
        cursor.execute(lock)
        head = cursor.fetchone()
    return head[0], head[1]
