"""The room page's Reports panel: ask for a report, see it being built, download it."""

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from chatrooms.models import (
    AuditAction,
    AuditLogEntry,
    AuditSource,
    Report,
    ReportStatus,
    ReportType,
)
from chatrooms.reports.services import report_build, reports_expire
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    # Report files go to the default storage: a folder of this test's own.
    settings.MEDIA_ROOT = tmp_path / "media"


def url(name, room):
    return reverse(f"moderation:{name}", kwargs={"room_id": room.pk})


def flashes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def ask(client, room, **data):
    page = url("room", room)
    return client.submit(
        url("room_report", room),
        {"type": ReportType.CHAT_HISTORIES, "time_zone": "UTC", "next": page, **data},
        page=page,
        follow=True,
    )


def test_a_moderator_asks_for_a_report_through_the_form(moderator_client, moderator, room):
    response = ask(
        moderator_client,
        room,
        type=ReportType.POLL_SUMMARIES,
        time_zone="Asia/Taipei",
        file_name="night 1",
    )

    report = Report.objects.get()
    assert (report.room, report.type, report.time_zone, report.file_name) == (
        room,
        ReportType.POLL_SUMMARIES,
        "Asia/Taipei",
        "night 1",
    )
    assert report.requested_by == moderator.username
    assert flashes(response) == [
        "Building the poll summaries report (Asia/Taipei). Reload the page to download it "
        "when it is ready."
    ]
    assert b"being built" in response.content
    entry = AuditLogEntry.objects.get(action=AuditAction.REPORT_REQUEST)
    assert (entry.source, entry.actor_user) == (AuditSource.CONSOLE, moderator)


def test_an_unknown_time_zone_is_said_and_nothing_is_queued(moderator_client, room):
    response = ask(moderator_client, room, time_zone="Moon/Base")

    assert flashes(response) == ["Unknown time zone 'Moon/Base'."]
    assert not Report.objects.exists()


def test_without_the_csrf_token_the_form_is_refused(moderator_client, room):
    response = moderator_client.post(
        url("room_report", room), {"type": ReportType.CHAT_HISTORIES, "time_zone": "UTC"}
    )

    assert response.status_code == 403
    assert not Report.objects.exists()


def test_a_built_report_downloads_from_the_panel(moderator_client, room):
    factories.ChatMessageFactory(room=room, text="hello")
    ask(moderator_client, room, file_name="night")
    report_build(report_id=Report.objects.get().pk)

    page = moderator_client.get(url("room", room))
    [report] = page.context["reports"]
    response = moderator_client.get(report.download_url)

    assert b"ready, 1 row" in page.content
    assert report.download_url.encode() in page.content.replace(b"&amp;", b"&")
    assert response.status_code == 200
    assert 'filename="night.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[1][6] == "hello"


def test_failed_and_expired_reports_say_so_and_offer_no_download(moderator_client, room):
    ask(moderator_client, room)
    ask(moderator_client, room)
    failed, expired = Report.objects.order_by("created_at")
    Report.objects.filter(pk=failed.pk).update(status=ReportStatus.FAILED)
    report_build(report_id=expired.pk)
    reports_expire(now=timezone.now() + settings.CHATROOM_REPORT_RETENTION + timedelta(1))

    page = moderator_client.get(url("room", room))

    assert b"failed" in page.content
    assert b"expired (its file was deleted)" in page.content
    assert all(not report.download_url for report in page.context["reports"])
