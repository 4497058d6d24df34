"""On PostgreSQL, make the audit log append-only in the database itself.

The model and its queryset already refuse updates and deletes; this trigger
also stops raw SQL and other clients. TRUNCATE (used to reset test databases)
is not a row operation and is unaffected.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION chatrooms_auditlog_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'chatrooms_auditlogentry is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER chatrooms_auditlog_append_only
    BEFORE UPDATE OR DELETE ON chatrooms_auditlogentry
    FOR EACH ROW EXECUTE FUNCTION chatrooms_auditlog_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS chatrooms_auditlog_append_only ON chatrooms_auditlogentry;
DROP FUNCTION IF EXISTS chatrooms_auditlog_refuse_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("chatrooms", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
