"""The audit log becomes a hash chain, sealed after the fact, stamped with the server's
time, and read/append/seal-only for every role but its owner (docs/audit.md).

1. Each entry gets a gapless sequence, the previous entry's hash and its own, all NULL
   until the sealer (chatrooms.auditchain.seal) sets them; on PostgreSQL also the id of
   the transaction that inserted it, the sealer's order. The one-row chain head holds
   the last sealed entry. Existing entries are sealed here in the order (created_at, id).
2. On PostgreSQL the trigger of 0002 still refuses DELETE, and now refuses every UPDATE
   but sealing: the three chain columns going from NULL to a value, nothing else
   changing. A BEFORE INSERT trigger sets created_at to now(), the transaction's
   timestamp, and xid to the transaction's id, whatever the client sends (bulk_create,
   raw SQL), and refuses an entry inserted already sealed.
3. On PostgreSQL, UPDATE, DELETE, TRUNCATE, TRIGGER and REFERENCES on the audit table, and
   DELETE and TRUNCATE on the chain head, are revoked from every role but the table's
   owner, whatever order deploy/postgres/roles.sql and this migration ran in; a role
   that may insert entries may UPDATE the three chain columns, to seal them.

The hash is chatrooms.auditchain's version 1, which never changes.
"""

import django.db.models.functions.datetime
from django.db import migrations, models

from chatrooms.auditchain import GENESIS_HASH, entry_digest

HASH_VERSION = 1  # what this migration writes, whatever the current version is

AUDIT = "chatrooms_auditlogentry"

# Replaces 0002's function (same trigger): DELETE is refused; UPDATE only seals.
SEAL_ONLY = """
CREATE OR REPLACE FUNCTION chatrooms_auditlog_refuse_change() RETURNS trigger AS $$
BEGIN
    -- Sealing: the chain's columns go from NULL to a value, once, and nothing else moves.
    IF TG_OP = 'UPDATE'
        AND OLD.sequence IS NULL AND OLD.prev_hash IS NULL AND OLD.entry_hash IS NULL
        AND NEW.sequence IS NOT NULL AND NEW.prev_hash IS NOT NULL
        AND NEW.entry_hash IS NOT NULL
        AND to_jsonb(NEW) - '{sequence,prev_hash,entry_hash}'::text[]
            = to_jsonb(OLD) - '{sequence,prev_hash,entry_hash}'::text[]
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'chatrooms_auditlogentry is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION chatrooms_auditlog_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'chatrooms_auditlogentry is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""

STAMP = """
CREATE OR REPLACE FUNCTION chatrooms_auditlog_stamp() RETURNS trigger AS $$
BEGIN
    IF NEW.sequence IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.entry_hash IS NOT NULL
    THEN
        RAISE EXCEPTION 'audit entries are inserted unsealed (the sealer chains them)'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    -- The server's time (the transaction's timestamp), and the transaction's id, which
    -- orders the entries for the sealer.
    NEW.created_at := now();
    NEW.xid := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER chatrooms_auditlog_stamp
    BEFORE INSERT ON chatrooms_auditlogentry
    FOR EACH ROW EXECUTE FUNCTION chatrooms_auditlog_stamp();
"""

DROP_STAMP = """
DROP TRIGGER IF EXISTS chatrooms_auditlog_stamp ON chatrooms_auditlogentry;
DROP FUNCTION IF EXISTS chatrooms_auditlog_stamp();
"""

# Only the owner may change history; whoever may append may seal. Runs as the owner (or
# a superuser).
REVOKE = """
DO $$
DECLARE
    role_name text;
BEGIN
    REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON chatrooms_auditlogentry FROM PUBLIC;
    REVOKE DELETE, TRUNCATE, TRIGGER, REFERENCES ON chatrooms_auditchainhead FROM PUBLIC;
    FOR role_name IN
        SELECT DISTINCT acl.grantee::regrole::text
        FROM pg_class c, aclexplode(c.relacl) acl
        WHERE c.oid IN ('chatrooms_auditlogentry'::regclass,
                        'chatrooms_auditchainhead'::regclass)
          AND acl.grantee <> 0 AND acl.grantee <> c.relowner
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES '
                       'ON chatrooms_auditlogentry FROM %s', role_name);
        EXECUTE format('REVOKE DELETE, TRUNCATE, TRIGGER, REFERENCES '
                       'ON chatrooms_auditchainhead FROM %s', role_name);
        IF has_table_privilege(role_name, 'chatrooms_auditlogentry', 'INSERT') THEN
            EXECUTE format('GRANT UPDATE (sequence, prev_hash, entry_hash) '
                           'ON chatrooms_auditlogentry TO %s', role_name);
        END IF;
    END LOOP;
END $$;
"""


def chain_existing(apps, schema_editor):
    AuditLogEntry = apps.get_model("chatrooms", "AuditLogEntry")
    AuditChainHead = apps.get_model("chatrooms", "AuditChainHead")
    connection = schema_editor.connection
    # Sealing only: on PostgreSQL the trigger (SEAL_ONLY, installed first) allows it.
    fields = ["id", "created_at", *CONTENT_FIELDS]
    sequence, prev_hash, batch = 0, GENESIS_HASH, []
    rows = AuditLogEntry.objects.order_by("created_at", "id").values(*fields)
    with connection.cursor() as cursor:

        def flush():
            cursor.executemany(
                f"UPDATE {AUDIT} SET sequence = %s, prev_hash = %s, entry_hash = %s "  # noqa: S608
                "WHERE id = %s",
                batch,
            )
            batch.clear()

        for row in rows.iterator(chunk_size=2000):
            sequence += 1
            row.update(hash_version=HASH_VERSION, sequence=sequence, prev_hash=prev_hash)
            entry_hash = entry_digest(row)
            batch.append((sequence, prev_hash, entry_hash, row["id"]))
            prev_hash = entry_hash
            if len(batch) >= 2000:
                flush()
        if batch:
            flush()
    AuditChainHead.objects.create(id=1, sequence=sequence, entry_hash=prev_hash)


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


def postgres_only(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("chatrooms", "0013_room_description")]

    operations = [
        migrations.AddField(
            model_name="auditlogentry",
            name="sequence",
            field=models.BigIntegerField(blank=True, editable=False, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="auditlogentry",
            name="prev_hash",
            field=models.CharField(blank=True, editable=False, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="auditlogentry",
            name="entry_hash",
            field=models.CharField(blank=True, editable=False, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="auditlogentry",
            name="hash_version",
            field=models.PositiveSmallIntegerField(default=1, editable=False),
        ),
        migrations.AddField(
            model_name="auditlogentry",
            name="xid",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name="auditlogentry",
            name="created_at",
            field=models.DateTimeField(
                db_default=django.db.models.functions.datetime.Now(), editable=False
            ),
        ),
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(
                        default=1, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("sequence", models.BigIntegerField(default=0)),
                ("entry_hash", models.CharField(default=GENESIS_HASH, max_length=64)),
            ],
            options={
                "verbose_name": "audit chain head",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("id", 1)), name="chatrooms_auditchainhead_one_row"
                    )
                ],
            },
        ),
        migrations.RunPython(postgres_only(SEAL_ONLY), postgres_only(APPEND_ONLY)),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="auditlogentry",
            index=models.Index(
                condition=models.Q(("sequence__isnull", True)),
                fields=["xid", "id"],
                name="chatrooms_audit_unsealed_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="auditlogentry",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("entry_hash__isnull", True),
                        ("prev_hash__isnull", True),
                        ("sequence__isnull", True),
                    ),
                    models.Q(
                        ("entry_hash__isnull", False),
                        ("prev_hash__isnull", False),
                        ("sequence__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="chatrooms_auditlogentry_sealed_whole",
            ),
        ),
        migrations.AddConstraint(
            model_name="auditlogentry",
            constraint=models.CheckConstraint(
                condition=models.Q(("hash_version", HASH_VERSION)),
                name="chatrooms_auditlogentry_known_hash_version",
            ),
        ),
        migrations.RunPython(postgres_only(STAMP), postgres_only(DROP_STAMP)),
        migrations.RunPython(postgres_only(REVOKE), migrations.RunPython.noop),
    ]
