"""deploy/postgres/roles.sql gives the app a role that can read, append and seal the
audit log and nothing more: no TRUNCATE or DELETE, no UPDATE but setting an unsealed
entry's chain columns once, no disabling or dropping its triggers, no
session_replication_role (issue 9, #8).

The test makes a fresh database and fresh roles, applies the SQL with psql as the
superuser, migrates as the owner and then runs the app as the app role, each in its own
process with its own DATABASE_URL, the way docs/audit.md says to deploy."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import sql

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL roles and privileges"
)

ROOT = Path(__file__).resolve().parents[2]
ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"
AUDIT = "chatrooms_auditlogentry"
HEAD = "chatrooms_auditchainhead"


def url(role: str, database: str) -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{role}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{database}"


def manage(*args, database_url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**env, "DJANGO_DEBUG": "1", "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def deployed():
    """(app url, database name): a database set up by roles.sql and migrated as the owner."""
    db = settings.DATABASES["default"]
    superuser = db["USER"]
    tag = uuid.uuid4().hex[:8]
    owner, app, name = f"test_owner_{tag}", f"test_app_{tag}", f"test_roles_{tag}"
    admin = psycopg.connect(url(superuser, "postgres"), autocommit=True)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def apply_roles_sql():
        applied = subprocess.run(
            [
                *("psql", "-X", "-q", "-d", url(superuser, name)),
                *("-v", f"owner={owner}", "-v", f"app={app}", "-f", str(ROLES_SQL)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert applied.returncode == 0, applied.stderr

    try:
        apply_roles_sql()
        migrated = manage("migrate", "--noinput", database_url=url(owner, name))
        assert migrated.returncode == 0, migrated.stderr
        apply_roles_sql()  # again after the first migrate, as docs/audit.md says
        yield url(app, name), name
    finally:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        for role in (app, owner):
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        admin.close()


REFUSED = [
    f"TRUNCATE {AUDIT}",
    f"DELETE FROM {AUDIT}",
    f"UPDATE {AUDIT} SET reason = 'rewritten'",
    f"UPDATE {AUDIT} SET created_at = created_at - interval '1 day'",
    f"UPDATE {AUDIT} SET hash_version = 1",
    f"ALTER TABLE {AUDIT} DISABLE TRIGGER chatrooms_auditlog_append_only",
    f"ALTER TABLE {AUDIT} DISABLE TRIGGER ALL",
    f"DROP TRIGGER chatrooms_auditlog_append_only ON {AUDIT}",
    f"DROP TRIGGER chatrooms_auditlog_stamp ON {AUDIT}",
    f"DROP TABLE {AUDIT}",
    "SET session_replication_role = replica",
    f"TRUNCATE {HEAD}",
    f"DELETE FROM {HEAD}",
    f"CREATE TABLE {AUDIT}_copy (id int)",
    "INSERT INTO django_migrations (app, name, applied) VALUES ('chatrooms', 'x', now())",
]


# Allowed by the column grant, refused by the trigger: a sealed entry's chain columns
# are written once.
RESEAL = [
    f"UPDATE {AUDIT} SET entry_hash = repeat('f', 64)",
    f"UPDATE {AUDIT} SET prev_hash = repeat('0', 64), sequence = 2",
    f"UPDATE {AUDIT} SET sequence = NULL, prev_hash = NULL, entry_hash = NULL",
    f"INSERT INTO {AUDIT} (created_at, action, source, actor_kind, actor_id, actor_name, "
    "target_type, target_id, reason, hash_version, sequence, prev_hash, entry_hash) "
    "SELECT created_at, action, source, actor_kind, actor_id, actor_name, target_type, "
    f"target_id, 'forged', 1, 2, entry_hash, entry_hash FROM {AUDIT}",
]


def test_the_app_role_can_append_read_and_seal_but_not_change_history(deployed):
    app_url, _ = deployed
    recorded = manage(
        "shell",
        "-c",
        "from chatrooms import services; from chatrooms.auth import Actor; "
        "from chatrooms.models import AuditAction; "
        "services.audit_record(actor=Actor.system('roles test'), "
        "action=AuditAction.ROOM_UPDATE, reason='as the app role')",
        database_url=app_url,
    )
    assert recorded.returncode == 0, recorded.stderr
    sealed = manage("verify_audit_log", database_url=app_url)  # seals, then checks
    assert sealed.returncode == 0, sealed.stderr
    assert "Sealed 1 entries." in sealed.stdout
    assert "1 entries verified" in sealed.stdout

    with psycopg.connect(app_url, autocommit=True) as app:
        stored = app.execute(f"SELECT reason, sequence, entry_hash FROM {AUDIT}").fetchall()
        assert [row[:2] for row in stored] == [("as the app role", 1)]
        for statement in REFUSED:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
        for statement in RESEAL:
            with pytest.raises(psycopg.errors.Error, match=r"append-only|inserted unsealed"):
                app.execute(statement)
        # The row is still there, unchanged.
        assert app.execute(f"SELECT reason, sequence, entry_hash FROM {AUDIT}").fetchall() == (
            stored
        )

    verified = manage("verify_audit_log", database_url=app_url)
    assert verified.returncode == 0, verified.stderr
    assert "1 entries verified" in verified.stdout


def test_the_app_role_keeps_its_rights_on_other_tables(deployed):
    app_url, _ = deployed
    with psycopg.connect(app_url) as app:
        app.execute("UPDATE chatrooms_chatroom SET label = label")
        app.execute("DELETE FROM chatrooms_chatmessage")
        app.execute(f"UPDATE {HEAD} SET sequence = sequence")
        app.rollback()
