"""The audit log's hash chain: what an entry's hash covers, and how the chain is checked.

Every audit entry carries a gapless ``sequence``, the previous entry's hash and its
own: SHA-256 over a canonical JSON serialisation of the version, the sequence, the
previous hash, the time and every field of the action. Changing, deleting, inserting
or reordering an entry breaks the chain at that entry, and
``python manage.py verify_audit_log`` names the first one (docs/audit.md).

This module is pure: no models, no queries. Version 1 must never change; a new
serialisation gets a new ``HASH_VERSION`` and both stay verifiable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

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
