"""The audit log becomes a hash chain, stamped with the server's time, and read/append-only
for every role but its owner (docs/audit.md).

1. Each entry gets a gapless sequence, the previous entry's hash and its own hash; the
   one-row chain head holds the last of them. Existing entries are chained in the order
   (created_at, id), with the append-only trigger of 0002 switched off for that update.
2. On PostgreSQL a BEFORE INSERT trigger sets created_at to now(), the transaction's
   timestamp, so no client (bulk_create, raw SQL) can back-date an entry. The app reads
   the same now() while it holds the chain head's lock and hashes that value. The
   trigger also refuses an entry that does not follow the head (sequence + 1, the head's
   hash as prev_hash) and moves the head to it.
3. On PostgreSQL, UPDATE, DELETE, TRUNCATE, TRIGGER and REFERENCES on the audit table, and
   DELETE and TRUNCATE on the chain head, are revoked from every role but the table's
   owner, whatever order deploy/postgres/roles.sql and this migration ran in.

The hash is chatrooms.auditchain's version 1, which never changes.
"""

from django.db import migrations, models

from chatrooms.auditchain import GENESIS_HASH, HASH_VERSION, entry_digest

AUDIT = "chatrooms_auditlogentry"
APPEND_ONLY_TRIGGER = "chatrooms_auditlog_append_only"  # migration 0002

LINK = """
CREATE OR REPLACE FUNCTION chatrooms_auditlog_link() RETURNS trigger AS $$
DECLARE
    head_sequence bigint;
    head_hash varchar(64);
BEGIN
    -- The transaction's timestamp: the app reads the same value under the chain
    -- head's lock and hashes it, so the stored time is the hashed time.
    NEW.created_at := now();
    -- The entry must follow the head (already locked by the app in this transaction);
    -- then the head moves to it.
    SELECT sequence, entry_hash INTO head_sequence, head_hash
    FROM chatrooms_auditchainhead WHERE id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO chatrooms_auditchainhead (id, sequence, entry_hash)
        VALUES (1, NEW.sequence, NEW.entry_hash);
    ELSIF NEW.sequence <> head_sequence + 1 OR NEW.prev_hash <> head_hash THEN
        RAISE EXCEPTION 'audit entry #% does not follow the chain head #%',
            NEW.sequence, head_sequence USING ERRCODE = 'integrity_constraint_violation';
    ELSE
        UPDATE chatrooms_auditchainhead
        SET sequence = NEW.sequence, entry_hash = NEW.entry_hash WHERE id = 1;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER chatrooms_auditlog_link
    BEFORE INSERT ON chatrooms_auditlogentry
    FOR EACH ROW EXECUTE FUNCTION chatrooms_auditlog_link();
"""

DROP_LINK = """
DROP TRIGGER IF EXISTS chatrooms_auditlog_link ON chatrooms_auditlogentry;
DROP FUNCTION IF EXISTS chatrooms_auditlog_link();
"""

# Only the owner may change history. Runs as the owner (or a superuser).
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
    END LOOP;
END $$;
"""


def chain_existing(apps, schema_editor):
    AuditLogEntry = apps.get_model("chatrooms", "AuditLogEntry")
    AuditChainHead = apps.get_model("chatrooms", "AuditChainHead")
    connection = schema_editor.connection
    postgres = connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(f"ALTER TABLE {AUDIT} DISABLE TRIGGER {APPEND_ONLY_TRIGGER}")
    fields = ["id", "created_at", *CONTENT_FIELDS]
    sequence, prev_hash, batch = 0, GENESIS_HASH, []
    rows = AuditLogEntry.objects.order_by("created_at", "id").values(*fields)
    with connection.cursor() as cursor:

        def flush():
            cursor.executemany(
                f"UPDATE {AUDIT} SET sequence = %s, prev_hash = %s, entry_hash = %s, "  # noqa: S608
                "hash_version = %s WHERE id = %s",
                batch,
            )
            batch.clear()

        for row in rows.iterator(chunk_size=2000):
            sequence += 1
            row.update(hash_version=HASH_VERSION, sequence=sequence, prev_hash=prev_hash)
            entry_hash = entry_digest(row)
            batch.append((sequence, prev_hash, entry_hash, HASH_VERSION, row["id"]))
            prev_hash = entry_hash
            if len(batch) >= 2000:
                flush()
        if batch:
            flush()
    if postgres:
        schema_editor.execute(f"ALTER TABLE {AUDIT} ENABLE TRIGGER {APPEND_ONLY_TRIGGER}")
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
    dependencies = [("chatrooms", "0009_token_revocation")]

    operations = [
        migrations.AddField(
            model_name="auditlogentry",
            name="sequence",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="auditlogentry",
            name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditlogentry",
            name="entry_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditlogentry",
            name="hash_version",
            field=models.PositiveSmallIntegerField(default=1, editable=False),
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
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditlogentry",
            name="sequence",
            field=models.BigIntegerField(editable=False, unique=True),
        ),
        migrations.RunPython(postgres_only(LINK), postgres_only(DROP_LINK)),
        migrations.RunPython(postgres_only(REVOKE), migrations.RunPython.noop),
    ]
