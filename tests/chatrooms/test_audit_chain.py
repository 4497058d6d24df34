"""The audit log is a hash chain stamped with the server's time, and
`manage.py verify_audit_log` names the first entry where it breaks (issue 9, #8)."""

import threading
import time
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.utils import timezone

from chatrooms import auditchain, services
from chatrooms.auth import Actor
from chatrooms.models import AuditAction, AuditChainHead, AuditLogEntry, AuditSource
from tests.chatrooms.audit_tamper import backdate, tamper

LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL triggers and transaction ids"
)


def verify(*args) -> str:
    out = StringIO()
    call_command("verify_audit_log", *args, stdout=out)
    return out.getvalue()


def broken_at(*args) -> str:
    with pytest.raises(CommandError) as failure:
        verify(*args)
    return str(failure.value)


def sealed(entry: AuditLogEntry) -> AuditLogEntry:
    return AuditLogEntry.objects.get(pk=entry.pk)


@pytest.fixture
def five(db, system_actor):
    """Five entries, #1 to #5, with content worth hashing, sealed."""
    written = [
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
    assert auditchain.seal() == 5
    return [sealed(entry) for entry in written]


def test_an_entry_is_inserted_unsealed_with_the_servers_time(db, system_actor):
    before = timezone.now()
    entry = services.audit_record(actor=system_actor, action=AuditAction.ROOM_UPDATE)

    stored = sealed(entry)
    assert (stored.sequence, stored.prev_hash, stored.entry_hash) == (None, None, None)
    assert entry.created_at == stored.created_at  # read back from the INSERT
    assert stored.created_at >= before - timedelta(seconds=5)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()::text::bigint")
            assert stored.xid == cursor.fetchone()[0]


def test_entries_form_a_gapless_chain(five):
    stored = list(AuditLogEntry.objects.order_by("sequence"))

    assert [e.sequence for e in stored] == [1, 2, 3, 4, 5]
    assert [e.target_id for e in stored] == [f"room-{n}" for n in range(1, 6)]
    assert stored[0].prev_hash == auditchain.GENESIS_HASH
    assert [e.prev_hash for e in stored[1:]] == [e.entry_hash for e in stored[:-1]]
    assert len({e.entry_hash for e in stored}) == 5
    head = AuditChainHead.objects.get()
    assert (head.sequence, head.entry_hash) == (5, stored[-1].entry_hash)


def test_the_hash_covers_the_stored_values(five):
    """What was hashed is what the database gives back (times, JSON numbers)."""
    for entry in AuditLogEntry.objects.all():
        fields = {name: getattr(entry, name) for name in auditchain.HASHED_FIELDS}
        assert auditchain.entry_digest(fields) == entry.entry_hash


def test_sealing_again_seals_only_new_entries(five, system_actor):
    assert auditchain.seal() == 0
    entry = services.audit_record(actor=system_actor, action=AuditAction.ROOM_UPDATE)

    assert auditchain.seal() == 1
    assert (sealed(entry).sequence, sealed(entry).prev_hash) == (6, five[-1].entry_hash)


def test_sealing_goes_in_batches_in_insertion_order(db, system_actor):
    written = [
        services.audit_record(actor=system_actor, action=AuditAction.ROOM_UPDATE, target_id=n)
        for n in range(7)
    ]

    assert auditchain.seal(batch_size=3, max_batches=1) == 3
    assert auditchain.seal(batch_size=3) == 4
    assert [sealed(e).sequence for e in written] == [1, 2, 3, 4, 5, 6, 7]
    assert "7 entries verified" in verify("--no-seal")


def test_verify_reports_ok_with_the_count(five):
    out = verify()

    assert "Sealed 0 entries." in out
    assert "Audit log OK: 5 entries verified (#1 to #5)" in out
    assert "Unsealed: none." in out
    assert out.strip().splitlines()[-1] == f"Head: 5:{five[-1].entry_hash}"


def test_verify_an_empty_log(db):
    assert "0 entries verified" in verify()


def test_verify_seals_first_unless_told_not_to(five, system_actor):
    for _ in range(2):
        services.audit_record(actor=system_actor, action=AuditAction.ROOM_UPDATE)

    out = verify("--no-seal")
    assert "5 entries verified" in out
    assert "Unsealed: 2 entries, the oldest written" in out
    assert "No sealer" not in out

    out = verify()
    assert "Sealed 2 entries." in out
    assert "7 entries verified" in out
    assert "Unsealed: none." in out


def test_verify_says_when_no_sealer_runs(five, system_actor):
    entry = services.audit_record(actor=system_actor, action=AuditAction.ROOM_UPDATE)
    backdate(entry, timezone.now() - timedelta(minutes=5))

    out = verify("--no-seal")
    assert "5 entries verified" in out
    assert "Unsealed: 1 entries" in out
    assert "No sealer seems to run" in out
    assert "an audit entry has waited" in broken_at("--no-seal", "--max-unsealed-age", "60").lower()
    assert "OK" in verify("--no-seal", "--max-unsealed-age", "600")


def test_a_given_created_at_is_ignored(db, room):
    before = timezone.now()
    entry = AuditLogEntry.objects.create(
        action=AuditAction.ROOM_UPDATE,
        source=AuditSource.COMMAND,
        actor_kind="system",
        room=room,
        created_at=LONG_AGO,
    )

    stored = sealed(entry)
    assert stored.created_at == entry.created_at
    assert stored.created_at >= before - timedelta(seconds=5)
    assert "OK" in verify()


def test_bulk_create_cannot_backdate_or_seal(db):
    created = AuditLogEntry.objects.bulk_create(
        AuditLogEntry(
            action=AuditAction.ROOM_UPDATE,
            source=AuditSource.COMMAND,
            actor_kind="system",
            target_id=str(n),
            created_at=LONG_AGO,
            sequence=n + 1,
            prev_hash="f" * 64,
            entry_hash="f" * 64,
        )
        for n in range(3)
    )

    assert [e.sequence for e in created] == [None, None, None]
    assert not AuditLogEntry.objects.filter(created_at__lt=timezone.now() - timedelta(days=1))
    assert auditchain.seal() == 3
    rows = AuditLogEntry.objects.order_by("sequence").values_list("sequence", "target_id")
    assert list(rows) == [(1, "0"), (2, "1"), (3, "2")]
    assert "3 entries verified" in verify()


def test_the_model_refuses_to_change_an_entry(five):
    entry = five[0]
    entry.reason = "rewritten"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        AuditLogEntry.objects.filter(pk=entry.pk).update(entry_hash="f" * 64)
    with pytest.raises(TypeError):
        AuditLogEntry.objects.filter(sequence__isnull=True).update(sequence=9)
    assert "5 entries verified" in verify()


RAW_INSERT = (
    "INSERT INTO chatrooms_auditlogentry (created_at, action, source, actor_kind, actor_id, "
    "actor_name, target_type, target_id, reason, sequence, prev_hash, entry_hash, xid, "
    "hash_version) VALUES (%s, 'room_update', 'api', 'system', '', '', '', '', '', %s, %s, "
    "%s, 7, 1) RETURNING id, created_at, xid"
)


@postgres_only
def test_raw_sql_cannot_backdate_or_pick_its_order_on_postgresql(db):
    with connection.cursor() as cursor:
        cursor.execute(RAW_INSERT, [LONG_AGO, None, None, None])
        _, stored, xid = cursor.fetchone()

    assert stored > timezone.now() - timedelta(days=1)
    assert xid != 7


@postgres_only
def test_raw_sql_cannot_insert_a_sealed_entry_on_postgresql(five):
    refused = pytest.raises(IntegrityError, match="inserted unsealed")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(RAW_INSERT, [LONG_AGO, 6, five[-1].entry_hash, "f" * 64])


AUDIT = "chatrooms_auditlogentry"


@postgres_only
@pytest.mark.parametrize(
    "change",
    [
        "reason = 'rewritten'",
        "entry_hash = repeat('f', 64)",
        "prev_hash = repeat('f', 64)",
        "sequence = 99",
        "sequence = NULL, prev_hash = NULL, entry_hash = NULL",
        "created_at = created_at - interval '1 day'",
        "xid = 1",
    ],
)
def test_the_database_refuses_to_change_a_sealed_entry_on_postgresql(five, change):
    refused = pytest.raises(DatabaseError, match="append-only")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {AUDIT} SET {change} WHERE sequence = 3")

    assert "5 entries verified" in verify()


@postgres_only
@pytest.mark.parametrize(
    "change",
    [
        "reason = 'rewritten', sequence = 1, prev_hash = '0', entry_hash = '1'",
        "sequence = 1",  # the whole seal or nothing
        "created_at = created_at - interval '1 day'",
    ],
)
def test_the_database_only_lets_an_unsealed_entry_be_sealed_on_postgresql(db, system_actor, change):
    entry = services.audit_record(actor=system_actor, action=AuditAction.ROOM_UPDATE)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {AUDIT} SET {change} WHERE id = %s", [entry.pk])

    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AUDIT} SET sequence = 1, prev_hash = '0', entry_hash = '1' WHERE id = %s",
            [entry.pk],
        )
    assert sealed(entry).sequence == 1


def test_the_chain_continues_after_the_head_row_is_lost(five, system_actor):
    """A database flush empties the head; the next entry follows the last one."""
    tamper("DELETE FROM chatrooms_auditchainhead")

    entry = services.audit_record(actor=system_actor, action=AuditAction.ROOM_UPDATE)
    auditchain.seal()

    assert (sealed(entry).sequence, sealed(entry).prev_hash) == (6, five[-1].entry_hash)
    assert "6 entries verified" in verify()


# --- tampering: each way, the report names the first broken entry ---------------------


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
    assert entry.sequence is None
    assert "4 entries verified" in verify()
    assert sealed(entry).sequence == 4


# --- concurrent writers and the sealer ----------------------------------------------------


def seal_until(count: int, timeout: float = 90) -> None:
    """Seal until `count` entries are sealed. On PostgreSQL the horizon is the oldest
    transaction running anywhere in the cluster: another database's may hold it back."""
    deadline = time.monotonic() + timeout
    while AuditLogEntry.objects.filter(sequence__isnull=False).count() < count:
        assert time.monotonic() < deadline, "not sealed in time"
        auditchain.seal()
        time.sleep(0.05)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_entry_of_a_transaction_that_commits_later_is_sealed_first_once_it_commits():
    """A begins (its transaction id comes first) and writes an entry; B writes one and
    commits, without waiting for A; A is still open. Sealing now would put B before an
    entry that may yet commit with an earlier id: nothing is sealed until A ends, then
    A's entry, then B's. None is skipped."""
    inserted, commit = threading.Event(), threading.Event()
    errors = []

    def transaction_a() -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_current_xact_id()")  # A's id, before B's
                services.audit_record(
                    actor=Actor.system("A"), action=AuditAction.ROOM_UPDATE, target_id="A"
                )
                inserted.set()
                assert commit.wait(30)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=transaction_a)
    thread.start()
    try:
        assert inserted.wait(30)
        with transaction.atomic(), connection.cursor() as cursor:
            # B does not wait for A: writing an entry takes no lock that A holds.
            cursor.execute("SET LOCAL lock_timeout = '5s'")
            services.audit_record(
                actor=Actor.system("B"), action=AuditAction.ROOM_UPDATE, target_id="B"
            )

        assert auditchain.seal() == 0  # A is running, and its id is below B's
        assert AuditLogEntry.objects.count() == 1  # B; A's is not visible yet
    finally:
        commit.set()
        thread.join(30)
    assert not errors, errors

    seal_until(2)
    rows = AuditLogEntry.objects.order_by("sequence").values_list("sequence", "target_id")
    assert list(rows) == [(1, "A"), (2, "B")]
    assert "2 entries verified" in verify()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_a_sealer_make_one_gapless_chain():
    """Writers in their own connections, released together, with a sealer running all
    along: no writer waits for another's audit row, and once everything has committed
    the sealed entries form one chain with no sequence twice or skipped."""
    writers, each = 8, 10
    barrier = threading.Barrier(writers + 1)
    done = threading.Event()
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

    def sealer() -> None:
        try:
            barrier.wait()
            while not done.is_set():
                auditchain.seal(batch_size=7)
                time.sleep(0.01)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    sealing = threading.Thread(target=sealer)
    for thread in [*threads, sealing]:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    sealing.join(timeout=60)

    assert not errors, errors
    seal_until(writers * each)
    sequences = list(AuditLogEntry.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, writers * each + 1))
    assert f"{writers * each} entries verified" in verify()
    if connection.vendor == "postgresql":
        order = list(AuditLogEntry.objects.order_by("sequence").values_list("xid", "id"))
        assert order == sorted(order)  # (transaction id, id) order
