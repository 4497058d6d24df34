"""The audit log is a hash chain stamped with the server's time, and
`manage.py verify_audit_log` names the first entry where it breaks (issue 9, #8)."""

import threading
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from chatrooms import auditchain, services
from chatrooms.auth import Actor
from chatrooms.models import AuditAction, AuditChainHead, AuditLogEntry, AuditSource
from tests.chatrooms.audit_tamper import tamper

LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL trigger")


def verify(*args) -> str:
    out = StringIO()
    call_command("verify_audit_log", *args, stdout=out)
    return out.getvalue()


def broken_at(*args) -> str:
    with pytest.raises(CommandError) as failure:
        verify(*args)
    return str(failure.value)


@pytest.fixture
def five(db, system_actor):
    """Five entries, #1 to #5, with content worth hashing."""
    return [
        services.audit_record(
            actor=system_actor,
            action=AuditAction.ROOM_UPDATE,
            target_type="chatroom",
            target_id=f"room-{n}",
            reason=f"reason {n}",
            before={"label": f"old {n}", "n": n},
            after={"label": f"new {n}", "ratio": 1.5, "big": 1e16, "text": "é\u2028"},
        )
        for n in range(1, 6)
    ]


def test_entries_form_a_gapless_chain(five):
    stored = list(AuditLogEntry.objects.order_by("sequence"))

    assert [e.sequence for e in stored] == [1, 2, 3, 4, 5]
    assert stored[0].prev_hash == auditchain.GENESIS_HASH
    assert [e.prev_hash for e in stored[1:]] == [e.entry_hash for e in stored[:-1]]
    assert len({e.entry_hash for e in stored}) == 5
    head = AuditChainHead.objects.get()
    assert (head.sequence, head.entry_hash) == (5, stored[-1].entry_hash)


def test_the_hash_covers_the_stored_values(five):
    """What was hashed in memory is what the database gives back (times, JSON numbers)."""
    for entry in AuditLogEntry.objects.all():
        fields = {name: getattr(entry, name) for name in auditchain.HASHED_FIELDS}
        assert auditchain.entry_digest(fields) == entry.entry_hash
    in_memory = five[0]
    assert in_memory.created_at == AuditLogEntry.objects.get(pk=in_memory.pk).created_at


def test_verify_reports_ok_with_the_count(five):
    out = verify()

    assert "Audit log OK: 5 entries verified (#1 to #5)" in out
    assert f"Head: 5:{five[-1].entry_hash}" in out


def test_verify_an_empty_log(db):
    assert "0 entries" in verify()


def test_a_given_created_at_is_ignored(db, room):
    before = timezone.now()
    entry = AuditLogEntry.objects.create(
        action=AuditAction.ROOM_UPDATE,
        source=AuditSource.COMMAND,
        actor_kind="system",
        room=room,
        created_at=LONG_AGO,
    )

    stored = AuditLogEntry.objects.get(pk=entry.pk)
    assert stored.created_at == entry.created_at
    assert stored.created_at >= before - timedelta(seconds=5)
    assert "OK" in verify()


def test_bulk_create_is_chained_and_cannot_backdate(db):
    created = AuditLogEntry.objects.bulk_create(
        AuditLogEntry(
            action=AuditAction.ROOM_UPDATE,
            source=AuditSource.COMMAND,
            actor_kind="system",
            created_at=LONG_AGO,
        )
        for _ in range(3)
    )

    assert [e.sequence for e in created] == [1, 2, 3]
    assert not AuditLogEntry.objects.filter(created_at__lt=timezone.now() - timedelta(days=1))
    assert "3 entries verified" in verify()


RAW_INSERT = (
    "INSERT INTO chatrooms_auditlogentry (created_at, action, source, actor_kind, actor_id, "
    "actor_name, target_type, target_id, reason, sequence, prev_hash, entry_hash, "
    "hash_version) VALUES (%s, 'room_update', 'api', 'system', '', '', '', '', '', %s, %s, "
    "'', 1) RETURNING created_at"
)


@postgres_only
def test_raw_sql_cannot_backdate_on_postgresql(db):
    with connection.cursor() as cursor:
        cursor.execute(RAW_INSERT, [LONG_AGO, 1, auditchain.GENESIS_HASH])
        (stored,) = cursor.fetchone()

    assert stored > timezone.now() - timedelta(days=1)


@postgres_only
@pytest.mark.parametrize(
    "sequence, prev_hash", [(7, "five"), (5, "five"), (6, auditchain.GENESIS_HASH)]
)
def test_raw_sql_cannot_insert_an_entry_off_the_chain_on_postgresql(five, sequence, prev_hash):
    prev_hash = five[-1].entry_hash if prev_hash == "five" else prev_hash

    refused = pytest.raises(IntegrityError, match="does not follow the chain head #5")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(RAW_INSERT, [LONG_AGO, sequence, prev_hash])


def test_the_chain_continues_after_the_head_row_is_lost(five):
    """A database flush empties the head; the next entry follows the last one."""
    tamper("DELETE FROM chatrooms_auditchainhead")

    entry = AuditLogEntry.objects.create(
        action=AuditAction.ROOM_UPDATE, source=AuditSource.COMMAND, actor_kind="system"
    )

    assert (entry.sequence, entry.prev_hash) == (6, five[-1].entry_hash)
    assert "6 entries verified" in verify()


# --- tampering: each way, the report names the first broken entry ---------------------

AUDIT = "chatrooms_auditlogentry"


def test_changed_content_breaks_at_that_entry(five):
    tamper(f"UPDATE {AUDIT} SET reason = 'nothing to see' WHERE sequence = 3")

    message = broken_at()
    assert "broken at entry #3:" in message
    assert "does not match its hash" in message
    assert "(2 entries before it verified" in message


def test_changed_json_breaks_at_that_entry(five):
    before = '{"label": "old 2", "n": 20}'
    tamper(f"UPDATE {AUDIT} SET before = %s WHERE sequence = 2", [before])

    assert "broken at entry #2:" in broken_at()


def test_changed_time_breaks_at_that_entry(five):
    tamper(f"UPDATE {AUDIT} SET created_at = %s WHERE sequence = 4", [LONG_AGO])

    assert "broken at entry #4:" in broken_at()


def test_a_deleted_entry_is_a_gap(five):
    tamper(f"DELETE FROM {AUDIT} WHERE sequence = 3")

    message = broken_at()
    assert "broken at entry #3: entry #3 is missing: the next entry is #4" in message


def test_deleted_entries_at_the_end_are_missing_from_the_head(five):
    tamper(f"DELETE FROM {AUDIT} WHERE sequence >= 4")

    message = broken_at()
    assert "broken at entry #4: entry #4 to #5 is missing: the chain head is #5" in message


def test_reordered_entries_break_at_the_first_moved(five):
    tamper(f"UPDATE {AUDIT} SET sequence = -sequence WHERE sequence IN (2, 4)")
    tamper(f"UPDATE {AUDIT} SET sequence = 4 WHERE sequence = -2")
    tamper(f"UPDATE {AUDIT} SET sequence = 2 WHERE sequence = -4")

    assert "broken at entry #2:" in broken_at()


def test_a_rehashed_entry_breaks_the_next_link(five):
    """Changing an entry and recomputing its own hash still breaks the link after it."""
    entry = AuditLogEntry.objects.get(sequence=3)
    fields = {name: getattr(entry, name) for name in auditchain.HASHED_FIELDS}
    fields["reason"] = "rewritten"
    forged = auditchain.entry_digest(fields)
    tamper(
        f"UPDATE {AUDIT} SET reason = 'rewritten', entry_hash = %s WHERE sequence = 3",
        [forged],
    )

    message = broken_at()
    assert "broken at entry #4:" in message
    assert "does not follow #3" in message


def test_an_altered_hash_breaks_at_that_entry(five):
    tamper(f"UPDATE {AUDIT} SET entry_hash = %s WHERE sequence = 5", ["f" * 64])

    assert "broken at entry #5:" in broken_at()


def test_an_inserted_entry_breaks_the_chain(five):
    tamper(f"UPDATE {AUDIT} SET sequence = -sequence - 1 WHERE sequence >= 3")
    tamper(f"UPDATE {AUDIT} SET sequence = -sequence WHERE sequence < 0")
    tamper(
        f"INSERT INTO {AUDIT} (created_at, action, source, actor_kind, actor_id, "
        "actor_name, target_type, target_id, reason, sequence, prev_hash, entry_hash, "
        "hash_version) SELECT created_at, action, source, actor_kind, actor_id, actor_name, "
        "target_type, target_id, 'forged', 3, prev_hash, entry_hash, 1 "
        f"FROM {AUDIT} WHERE sequence = 4"
    )

    assert "broken at entry #3:" in broken_at()


def test_from_checks_the_rest_of_the_chain(five):
    assert "3 entries verified (#3 to #5)" in verify("--from", "3")
    tamper(f"UPDATE {AUDIT} SET reason = 'x' WHERE sequence = 4")

    assert "broken at entry #4:" in broken_at("--from", "3")


def test_an_anchor_catches_a_rewritten_chain(five):
    """The owner could recompute every hash after a change; an anchor kept outside the
    database shows it."""
    anchor = f"3:{five[2].entry_hash}"
    assert "OK" in verify("--anchor", anchor)
    rows = list(AuditLogEntry.objects.order_by("sequence"))
    prev = auditchain.GENESIS_HASH
    for entry in rows:
        fields = {name: getattr(entry, name) for name in auditchain.HASHED_FIELDS}
        fields["reason"] = "rewritten" if entry.sequence == 2 else fields["reason"]
        fields["prev_hash"] = prev
        prev = auditchain.entry_digest(fields)
        tamper(
            f"UPDATE {AUDIT} SET reason = %s, prev_hash = %s, entry_hash = %s WHERE id = %s",
            [fields["reason"], fields["prev_hash"], prev, entry.pk],
        )
    tamper("UPDATE chatrooms_auditchainhead SET entry_hash = %s", [prev])
    assert "OK" in verify()

    assert "broken at entry #3: entry #3's hash is not the recorded" in broken_at(
        "--anchor", anchor
    )


# --- the data migration ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_chains_existing_entries_in_time_order():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    (chain,) = [key for key in executor.loader.graph.nodes if key[1].endswith("audit_hash_chain")]
    (before,) = executor.loader.graph.node_map[chain].parents
    executor.migrate([before.key])
    Entry = executor.loader.project_state([before.key]).apps.get_model("chatrooms", "AuditLogEntry")
    now = timezone.now()
    for days, reason in [(1, "second"), (3, "first"), (0, "third")]:
        Entry.objects.create(
            action=AuditAction.ROOM_UPDATE,
            source=AuditSource.COMMAND,
            actor_kind="system",
            reason=reason,
            created_at=now - timedelta(days=days),
            after={"n": 1e16, "days": days},
        )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("chatrooms"))

    rows = AuditLogEntry.objects.order_by("sequence").values_list("sequence", "reason")
    assert list(rows) == [(1, "first"), (2, "second"), (3, "third")]
    assert "3 entries verified" in verify()
    entry = services.audit_record(actor=Actor.system("tests"), action=AuditAction.ROOM_UPDATE)
    assert entry.sequence == 4
    assert "4 entries verified" in verify()


# --- concurrent writers -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_make_one_gapless_chain():
    """Writers in their own connections, released together: the head lock puts their
    entries one after another, in commit order, with no sequence twice or skipped."""
    writers, each = 8, 10
    barrier = threading.Barrier(writers)
    errors = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(each):
                with transaction.atomic():
                    services.audit_record(
                        actor=Actor.system(f"writer {n}"),
                        action=AuditAction.ROOM_UPDATE,
                        target_id=f"{n}-{i}",
                    )
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    sequences = list(AuditLogEntry.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, writers * each + 1))
    assert f"{writers * each} entries verified" in verify()
