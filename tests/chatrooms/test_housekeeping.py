"""Housekeeping: a room keeps to its message ttl, and what nothing needs any more is pruned."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from chatrooms import auth, housekeeping, selectors, services
from chatrooms.models import (
    AuditLogEntry,
    ChatMessage,
    ChatSession,
    CounterIncrement,
    PinnedMessage,
    RefreshToken,
    Report,
    ReportStatus,
    ReportType,
    SlowModeSend,
)
from tests import factories

pytestmark = pytest.mark.django_db


def messages_aged(room, *ages: timedelta):
    now = timezone.now()
    return [factories.ChatMessageFactory(room=room, received_at=now - age) for age in ages]


def test_history_leaves_out_messages_older_than_the_rooms_ttl(room):
    room.message_ttl = timedelta(hours=1)
    room.save(update_fields=["message_ttl"])
    old, fresh = messages_aged(room, timedelta(hours=2), timedelta(minutes=5))

    for admin in (True, False):
        listed = selectors.message_list(room=room, viewer_id="v", viewer_is_admin=admin)
        assert [m.pk for m in listed] == [fresh.pk]
        oldest_first = selectors.message_list(
            room=room, viewer_id="v", viewer_is_admin=admin, from_oldest=True
        )
        assert [m.pk for m in oldest_first] == [fresh.pk]
    assert ChatMessage.objects.filter(pk=old.pk).exists()  # hidden before it is deleted


def test_history_over_the_api_leaves_out_expired_messages(room, viewer_token_client):
    room.message_ttl = timedelta(hours=1)
    room.save(update_fields=["message_ttl"])
    _old, fresh = messages_aged(room, timedelta(hours=2), timedelta(minutes=5))

    response = viewer_token_client.get("/bv/chatroom/v1/chatrooms/messages")

    assert response.status_code == 200, response.content
    assert [m["id"] for m in response.json()["messages"]] == [str(fresh.pk)]


def test_expired_messages_are_deleted_per_room_ttl_in_batches(room, settings):
    # A batch of 2 so that three expired messages take two batches.
    settings.CHATROOM_HOUSEKEEPING_BATCH = 2
    other = factories.ChatroomFactory(message_ttl=timedelta(days=3))
    room.message_ttl = timedelta(hours=1)
    room.save(update_fields=["message_ttl"])
    expired = messages_aged(room, timedelta(hours=2), timedelta(hours=3), timedelta(days=1))
    kept = messages_aged(room, timedelta(minutes=30))
    kept += messages_aged(other, timedelta(days=1))  # within the other room's 3 days

    counts = housekeeping.housekeeping_run()

    assert counts["messages"] == len(expired)
    assert set(ChatMessage.objects.values_list("pk", flat=True)) == {m.pk for m in kept}


def test_dry_run_counts_and_deletes_nothing(room):
    room.message_ttl = timedelta(hours=1)
    room.save(update_fields=["message_ttl"])
    messages_aged(room, timedelta(hours=2), timedelta(minutes=1))
    CounterIncrement.objects.create(room=room, key="k", value=1, applied=True)

    counts = housekeeping.housekeeping_run(dry_run=True)

    assert counts["messages"] == 1
    assert counts["counter_increments"] == 1
    assert ChatMessage.objects.count() == 2
    assert CounterIncrement.objects.count() == 1


def test_only_applied_counter_increments_are_pruned(room):
    CounterIncrement.objects.create(room=room, key="k", value=1, applied=True)
    pending = CounterIncrement.objects.create(room=room, key="k", value=2)

    assert housekeeping.housekeeping_run()["counter_increments"] == 1
    assert list(CounterIncrement.objects.all()) == [pending]


def test_stale_slow_mode_rows_are_pruned(room):
    now = timezone.now()
    SlowModeSend.objects.create(room=room, user_id="past", next_send_at=now - timedelta(1))
    waiting = SlowModeSend.objects.create(
        room=room, user_id="waits", next_send_at=now + timedelta(1)
    )

    assert housekeeping.housekeeping_run(now=now)["slow_mode"] == 1
    assert list(SlowModeSend.objects.all()) == [waiting]


def test_sessions_go_only_past_their_absolute_expiry_revoked_or_not(room, system_actor):
    issued = [auth.chatroom_token_issue(room=room, subject=f"u{i}") for i in range(3)]
    live, revoked_live, old = (ChatSession.objects.get(subject=f"u{i}") for i in range(3))
    services.session_revoke(actor=system_actor, session=revoked_live)
    ChatSession.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=1))
    RefreshToken.objects.filter(session=old).update(expires_at=timezone.now() - timedelta(days=1))
    audit_rows = AuditLogEntry.objects.count()

    counts = housekeeping.housekeeping_run()

    assert counts["sessions"] == 1
    assert counts["refresh_tokens"] == 1
    assert set(ChatSession.objects.values_list("pk", flat=True)) == {live.pk, revoked_live.pk}
    # The revoked, unexpired session is still refused: its tokens could still be presented.
    room.refresh_from_db()
    assert str(revoked_live.pk) in auth.revoked_sessions(room)
    assert issued[0].token
    assert AuditLogEntry.objects.count() == audit_rows  # the audit log is never touched


def test_expired_refresh_tokens_of_a_live_session_are_pruned(room):
    auth.chatroom_token_issue(room=room, subject="u")
    session = ChatSession.objects.get(subject="u")
    RefreshToken.objects.filter(session=session).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    assert housekeeping.housekeeping_run()["refresh_tokens"] == 1
    assert ChatSession.objects.filter(pk=session.pk).exists()


def test_finished_task_results_past_retention_are_pruned(room, settings, system_actor):
    settings.CHATROOM_TASK_RESULT_RETENTION = timedelta(days=14)
    from chatrooms.reports import services as reports

    reports.report_request(actor=system_actor, room=room, type=ReportType.CHAT_HISTORIES)
    reports.report_request(actor=system_actor, room=room, type=ReportType.CHAT_HISTORIES)
    first, second = DBTaskResult.objects.order_by("enqueued_at")
    DBTaskResult.objects.filter(pk=first.pk).update(
        status="SUCCESSFUL", finished_at=timezone.now() - timedelta(days=15)
    )

    assert housekeeping.housekeeping_run()["task_results"] == 1
    assert list(DBTaskResult.objects.values_list("pk", flat=True)) == [second.pk]


def test_report_files_past_retention_are_deleted_and_rows_kept(room, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }  # the files go to a temporary folder
    report = Report.objects.create(
        room=room,
        type=ReportType.CHAT_HISTORIES,
        status=ReportStatus.SUCCEEDED,
        finished_at=timezone.now() - settings.CHATROOM_REPORT_RETENTION - timedelta(hours=1),
    )
    report.file.save("old.csv", ContentFile(b"a,b\n"))
    path = report.file.path

    assert housekeeping.housekeeping_run()["report_files"] == 1
    report.refresh_from_db()
    assert report.expired_at is not None and not report.file
    import os

    assert not os.path.exists(path)


def test_reports_stuck_running_are_marked_failed(room, settings):
    stuck = Report.objects.create(room=room, type=ReportType.CHAT_HISTORIES)
    Report.objects.filter(pk=stuck.pk).update(
        created_at=timezone.now() - settings.CHATROOM_REPORT_STUCK_AFTER - timedelta(minutes=1)
    )
    running = Report.objects.create(room=room, type=ReportType.CHAT_HISTORIES)

    assert housekeeping.housekeeping_run()["stuck_reports"] == 1
    stuck.refresh_from_db()
    running.refresh_from_db()
    assert stuck.status == ReportStatus.FAILED
    assert "still running" in stuck.error
    assert stuck.finished_at is not None
    assert running.status == ReportStatus.RUNNING


def test_pins_of_expired_messages_stay(room):
    room.message_ttl = timedelta(hours=1)
    room.save(update_fields=["message_ttl"])
    (old,) = messages_aged(room, timedelta(hours=2))
    factories.PinnedMessageFactory(room=room, message_id=str(old.pk))

    housekeeping.housekeeping_run()

    assert not ChatMessage.objects.exists()
    assert PinnedMessage.objects.filter(message_id=str(old.pk)).exists()


def test_a_pass_with_nothing_to_do_is_a_few_queries(room, django_assert_num_queries):
    factories.ChatroomFactory.create_batch(3)
    # The rooms and their ttls; one DELETE per room (4); one statement for each other
    # kind (7); on PostgreSQL the advisory lock taken and released (2).
    advisory = 2 if connection.vendor == "postgresql" else 0
    with django_assert_num_queries(1 + 4 + 7 + advisory):
        counts = housekeeping.housekeeping_run()
    assert set(counts.values()) == {0}


def test_command_prints_counts_and_dry_run_keeps_rows(room):
    room.message_ttl = timedelta(hours=1)
    room.save(update_fields=["message_ttl"])
    messages_aged(room, timedelta(hours=2))

    out = StringIO()
    call_command("housekeeping", "--dry-run", stdout=out)
    assert "would delete" in out.getvalue()
    assert "messages: 1" in out.getvalue()
    assert ChatMessage.objects.count() == 1

    out = StringIO()
    call_command("housekeeping", stdout=out)
    assert "messages: 1" in out.getvalue()
    assert ChatMessage.objects.count() == 0
