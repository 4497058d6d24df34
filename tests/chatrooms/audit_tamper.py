"""Change the audit log behind the app's back, the way an attacker with the owner's
(or a superuser's) database access could: raw SQL, with the append-only trigger
bypassed on PostgreSQL. For tests of the hash chain and of back-dated rows."""

from django.db import connection


def tamper(sql: str, params=()) -> None:
    """Run raw SQL against the audit log inside the test's transaction. On PostgreSQL,
    session_replication_role = replica (superuser only: the test database's user is
    one) switches off the triggers for it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def backdate(entry, when) -> None:
    """Give an entry an earlier time (it no longer verifies; for filter tests)."""
    tamper("UPDATE chatrooms_auditlogentry SET created_at = %s WHERE id = %s", (when, entry.pk))
    entry.refresh_from_db()
