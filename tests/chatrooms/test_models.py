"""Invariants the database itself enforces."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from chatrooms.models import AuditLogEntry, PollStatus
from tests import factories

pytestmark = pytest.mark.django_db


def test_one_active_block_per_user_and_room(room):
    factories.BlockedUserFactory(room=room, user_id="u1")

    with pytest.raises(IntegrityError), transaction.atomic():
        factories.BlockedUserFactory(room=room, user_id="u1")


def test_an_ended_block_does_not_stop_a_new_one(room):
    factories.BlockedUserFactory(room=room, user_id="u1", unblocked_at=timezone.now())

    factories.BlockedUserFactory(room=room, user_id="u1")


def test_counter_keys_are_unique_per_room(room):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.CustomCounterFactory(room=room, key="like")

    factories.CustomCounterFactory(key="like")  # another room


def test_at_most_one_active_poll_per_room(room):
    factories.PollFactory(room=room, status=PollStatus.ACTIVE)
    factories.PollFactory(room=room, status=PollStatus.QUEUED)

    with pytest.raises(IntegrityError), transaction.atomic():
        factories.PollFactory(room=room, status=PollStatus.ACTIVE)


def test_audit_log_refuses_update_and_delete_in_python(room):
    entry = AuditLogEntry.objects.first()

    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        AuditLogEntry.objects.all().update(reason="x")
    with pytest.raises(TypeError):
        AuditLogEntry.objects.all().delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_audit_log_refuses_raw_sql_update_on_postgresql(room):
    with (
        pytest.raises(Exception, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE chatrooms_auditlogentry SET reason = 'x'")
