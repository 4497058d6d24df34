"""Reports (`POST /chatrooms/{id}/reports`, `GET /chatrooms/{id}/reports/{report_id}`,
and the signed download behind `uri`): the wire shapes, the CSV a spreadsheet user
reads, the link's expiry, the audit row, and one build by a real `db_worker`."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django_tasks_db.models import DBTaskResult

from chatrooms import services
from chatrooms.auth import Actor
from chatrooms.models import (
    AuditAction,
    AuditLogEntry,
    InteractionType,
    PollStatus,
    PollType,
    Report,
    ReportStatus,
    ReportType,
    Role,
)
from chatrooms.reports import services as report_services
from chatrooms.reports.services import report_build, reports_expire
from tests import factories
from tests.chatrooms.helpers import assert_status, field_violations
from tests.conftest import token_client

pytestmark = pytest.mark.django_db

API = "/bv/chatroom/v1"
ROOT = Path(__file__).resolve().parents[2]
SENT = datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    # Report files go to the default storage: a folder of this test's own, not the checkout's.
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def request_report(client, room, **body) -> str:
    response = client.post(f"{API}/chatrooms/{room.pk}/reports", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["id"]


def get_report(client, room, report_id) -> dict:
    response = client.get(f"{API}/chatrooms/{room.pk}/reports/{report_id}")
    assert response.status_code == 200, response.content
    return response.json()


def download(client, uri: str):
    parts = urlsplit(uri)
    return client.get(f"{parts.path}?{parts.query}")


def rows_of(response) -> list[list[str]]:
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # a BOM: spreadsheets read UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def built_csv(client, room, **body) -> list[list[str]]:
    report_id = request_report(client, room, **body)
    report_build(report_id=report_id)
    answer = get_report(client, room, report_id)
    assert answer["status"] == ReportStatus.SUCCEEDED
    response = download(client, answer["uri"])
    assert response.status_code == 200
    return rows_of(response)


# --- The wire -------------------------------------------------------------------------


def test_a_report_starts_running_and_names_no_uri_until_built(api_key_client, room):
    report_id = request_report(api_key_client, room, type=ReportType.CHAT_HISTORIES)

    assert get_report(api_key_client, room, report_id) == {
        "id": report_id,
        "uri": "",
        "status": "REPORT_STATUS_RUNNING",
    }
    report = Report.objects.get(pk=report_id)
    assert (report.file_name, report.time_zone) == (str(room.pk), "UTC")
    # Its build is queued in the same transaction, for the worker.
    [job] = DBTaskResult.objects.all()
    assert job.task_path == "chatrooms.reports.tasks.build_report"
    assert job.args_kwargs == {"args": [report_id], "kwargs": {}}
    assert job.queue_name == "reports"


def test_once_built_the_uri_downloads_the_csv_under_its_file_name(api_key_client, room):
    report_id = request_report(
        api_key_client, room, type=ReportType.CHAT_HISTORIES, file_name="Launch night"
    )
    report_build(report_id=report_id)

    answer = get_report(api_key_client, room, report_id)
    response = download(anon := type(api_key_client)(), answer["uri"])

    assert answer["status"] == "REPORT_STATUS_SUCCEEDED"
    assert answer["uri"].startswith("http://testserver/bv/chatroom/v1/chatrooms/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="Launch night.csv"' in response["Content-Disposition"]
    assert response["Cache-Control"] == "private, no-store"
    assert rows_of(response)[0][0] == "Sent at (UTC)"
    assert anon is not None


@pytest.mark.parametrize("report_type", ReportType.values)
def test_each_type_is_accepted(api_key_client, room, report_type):
    report_id = request_report(api_key_client, room, type=report_type, time_zone="Asia/Taipei")

    assert report_build(report_id=report_id).status == ReportStatus.SUCCEEDED


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "utc+8", "x" * 64])
def test_an_unknown_time_zone_is_a_field_violation(api_key_client, room, zone):
    response = api_key_client.post(
        f"{API}/chatrooms/{room.pk}/reports",
        {"type": ReportType.CHAT_HISTORIES, "time_zone": zone},
        format="json",
    )

    body = assert_status(response, 400, 3)
    assert "time_zone" in field_violations(body)
    assert not Report.objects.exists()


@pytest.mark.parametrize("body", [{}, {"type": "REPORT_TYPE_NOPE"}, {"type": 1}])
def test_a_missing_or_unknown_type_is_a_field_violation(api_key_client, room, body):
    response = api_key_client.post(f"{API}/chatrooms/{room.pk}/reports", body, format="json")

    assert "type" in field_violations(assert_status(response, 400, 3))


def test_the_file_name_cannot_leave_its_folder_or_break_the_header(api_key_client, room):
    report_id = request_report(
        api_key_client, room, type=ReportType.POLL_VOTES, file_name='../../x"\r\ny.csv'
    )

    assert Report.objects.get(pk=report_id).file_name == "_.._x___y"


def test_a_request_is_audited(api_key_client, api_key, room):
    report_id = request_report(
        api_key_client, room, type=ReportType.POLL_SUMMARIES, time_zone="Europe/Paris"
    )

    entry = AuditLogEntry.objects.get(action=AuditAction.REPORT_REQUEST)
    assert (entry.room_id, entry.target_type, entry.target_id) == (room.pk, "report", report_id)
    assert entry.actor_id == f"api_key:{api_key[0].prefix}"
    assert entry.after["time_zone"] == "Europe/Paris"


def test_another_rooms_report_is_not_found(api_key_client, room, system_actor):
    other = services.chatroom_create(actor=system_actor)
    report_id = request_report(api_key_client, other, type=ReportType.CHAT_HISTORIES)

    response = api_key_client.get(f"{API}/chatrooms/{room.pk}/reports/{report_id}")

    assert_status(response, 404, 5)


def test_an_unknown_or_malformed_report_id(api_key_client, room):
    unknown = api_key_client.get(f"{API}/chatrooms/{room.pk}/reports/{uuid.uuid4()}")
    malformed = api_key_client.get(f"{API}/chatrooms/{room.pk}/reports/nope")

    assert_status(unknown, 404, 5)
    assert "report_id" in field_violations(assert_status(malformed, 400, 3))


@pytest.mark.parametrize("role", [Role.ADMIN, Role.VIEWER])
def test_a_chatroom_token_may_not_ask_for_or_read_reports(room, api_key_client, role):
    report_id = request_report(api_key_client, room, type=ReportType.CHAT_HISTORIES)
    client = token_client(room, role)

    assert_status(
        client.post(f"{API}/chatrooms/{room.pk}/reports", {"type": "REPORT_TYPE_POLL_VOTES"}),
        403,
        7,
    )
    assert_status(client.get(f"{API}/chatrooms/{room.pk}/reports/{report_id}"), 403, 7)


def test_without_credentials_both_are_401(anon_client, room):
    assert_status(anon_client.post(f"{API}/chatrooms/{room.pk}/reports", {}), 401, 16)
    assert_status(anon_client.get(f"{API}/chatrooms/{room.pk}/reports/{uuid.uuid4()}"), 401, 16)


# --- The signed link --------------------------------------------------------------------


@pytest.fixture
def built(api_key_client, room):
    report_id = request_report(api_key_client, room, type=ReportType.CHAT_HISTORIES)
    report_build(report_id=report_id)
    return get_report(api_key_client, room, report_id)


def test_the_link_needs_no_credential_and_ignores_one(built, anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer garbage")

    assert download(anon_client, built["uri"]).status_code == 200


def test_an_expired_link_is_403(built, anon_client, settings):
    # A link lives CHATROOM_REPORT_LINK_TTL; a negative one makes this link old already.
    settings.CHATROOM_REPORT_LINK_TTL = timedelta(seconds=-1)

    body = assert_status(download(anon_client, built["uri"]), 403, 7)
    assert body["details"][0]["reason"] == "REPORT_LINK_EXPIRED"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda uri: uri[:-2] + ("AA" if not uri.endswith("AA") else "BB"), id="sig"),
        pytest.param(lambda uri: uri.split("?")[0], id="no-token"),
        pytest.param(lambda uri: uri.split("?")[0] + "?token=x:y:z", id="garbage"),
    ],
)
def test_a_forged_link_is_403(built, anon_client, tamper):
    body = assert_status(download(anon_client, tamper(built["uri"])), 403, 7)
    assert body["details"][0]["reason"] == "REPORT_LINK_INVALID"


def test_a_link_opens_only_its_own_report(built, api_key_client, room, anon_client):
    other_id = request_report(api_key_client, room, type=ReportType.POLL_VOTES)
    report_build(report_id=other_id)
    token = urlsplit(built["uri"]).query

    response = anon_client.get(f"{API}/chatrooms/{room.pk}/reports/{other_id}:download?{token}")

    assert_status(response, 403, 7)


def test_a_link_under_another_room_is_404(built, anon_client, system_actor):
    other = services.chatroom_create(actor=system_actor)
    parts = urlsplit(built["uri"])
    path = parts.path.replace(parts.path.split("/")[5], str(other.pk))

    assert_status(anon_client.get(f"{path}?{parts.query}"), 404, 5)


def test_files_past_their_retention_are_deleted_and_their_link_is_404(built, anon_client, room):
    report = Report.objects.get(pk=built["id"])
    path = Path(report.file.path)
    assert path.exists()

    assert reports_expire(now=report.finished_at + timedelta(days=6)) == 0
    assert reports_expire(now=report.finished_at + timedelta(days=8)) == 1

    assert not path.exists()
    assert_status(download(anon_client, built["uri"]), 404, 5)
    assert Report.objects.get(pk=built["id"]).expired_at is not None


def test_a_failed_build_is_reported_failed(api_key_client, room, monkeypatch):
    report_id = request_report(api_key_client, room, type=ReportType.CHAT_HISTORIES)

    def broken(report, zone):
        raise RuntimeError("disk full")

    # A failure inside the writer: there is no real way to make the database fail one query.
    monkeypatch.setattr(report_services.writers, "header_and_rows", broken)
    report_build(report_id=report_id)

    assert get_report(api_key_client, room, report_id) == {
        "id": report_id,
        "uri": "",
        "status": "REPORT_STATUS_FAILED",
    }
    assert Report.objects.get(pk=report_id).error == "RuntimeError"


# --- The columns ------------------------------------------------------------------------


def test_chat_history_rows_read_without_the_api_docs(api_key_client, room, system_actor):
    factories.ChatMessageFactory(
        room=room,
        user_id="u1",
        user_device_id="d1",
        user_custom_name="Ann",
        text="hello",
        received_at=SENT,
    )
    factories.ChatMessageFactory(
        room=room,
        user_id="host",
        user_custom_name='=HYPERLINK("http://x")',
        user_is_admin=True,
        text="+1 -1 @all",
        received_at=SENT + timedelta(seconds=1),
    )
    deleted = factories.ChatMessageFactory(
        room=room,
        user_id="troll",
        user_custom_name="Troll",
        user_is_guest=True,
        user_blocked=True,
        sender_hidden=True,
        text="spam",
        received_at=SENT + timedelta(seconds=2),
    )
    services.message_delete(actor=Actor.system("mod"), room=room, message_id=deleted.pk)
    factories.ChatMessageFactory(
        room=room,
        type=InteractionType.CUSTOM,
        text="",
        payload={"custom_message": '{"k":1}'},
        received_at=SENT + timedelta(seconds=3),
    )

    rows = built_csv(api_key_client, room, type=ReportType.CHAT_HISTORIES, time_zone="Asia/Taipei")

    header, ann, host, troll, custom = rows
    assert header == [
        "Sent at (Asia/Taipei)",
        "Sender name",
        "Sender user id",
        "Sender device id",
        "Sender role",
        "Message type",
        "Message",
        "Sender blocked when sent",
        "Hidden from viewers (sender blocked)",
        "Deleted",
        "Deleted at (Asia/Taipei)",
        "Deleted by",
        "Message id",
    ]
    assert ann[:10] == [
        "2026-05-01 20:00:00.123",
        "Ann",
        "u1",
        "d1",
        "viewer",
        "Text",
        "hello",
        "no",
        "no",
        "no",
    ]
    # Cells a spreadsheet would run as formulas start with a quote.
    assert host[1] == '\'=HYPERLINK("http://x")'
    assert host[4] == "admin"
    assert host[6] == "'+1 -1 @all"
    assert troll[4:10] == ["guest", "Text", "spam", "yes", "yes", "yes"]
    assert troll[10].startswith("20")
    assert troll[11] == "mod"
    assert custom[5] == "Custom"
    assert custom[6] == '{"custom_message":"{\\"k\\":1}"}'


def test_the_deprecated_event_id_fills_an_event_id_column(api_key_client, room):
    factories.ChatMessageFactory(room=room)

    header, row = built_csv(
        api_key_client, room, type=ReportType.CHAT_HISTORIES, custom_event_id="ev-7"
    )

    assert (header[-1], row[-1]) == ("Event ID", "ev-7")


def vote(room, poll, subject: str, *options):
    voter = Actor.for_token(token_client(room, Role.VIEWER, subject=subject, name=subject).claims)
    services.poll_vote(actor=voter, poll=poll, option_ids=[o.pk for o in options])


@pytest.fixture
def polls(room, system_actor):
    single = factories.PollFactory(
        room=room, question="-Tea or coffee?", options=["Tea", "@Coffee"]
    )
    multi = factories.PollFactory(
        room=room, type=PollType.MULTI_CHOICE, question="Which days?", options=["Sat", "Sun"]
    )
    for poll in (single, multi):
        services.poll_change(actor=system_actor, poll=poll, action="ACTION_START")
        tea, coffee = poll.options.all()
        vote(room, poll, "ann", tea) if poll is single else vote(room, poll, "ann", tea, coffee)
        vote(room, poll, "bob", coffee)
        vote(room, poll, "cid", coffee)
        services.poll_change(actor=system_actor, poll=poll, action="ACTION_CLOSE")
    return single, multi


def test_poll_summaries_count_every_option_from_the_ballots(api_key_client, room, polls):
    single, multi = polls

    header, *rows = built_csv(api_key_client, room, type=ReportType.POLL_SUMMARIES)

    assert header[:4] == ["Poll id", "Question", "Poll type", "Poll status"]
    assert header[7:] == ["Voters", "Option", "Correct answer", "Votes", "Share of voters (%)"]
    assert [(r[0], r[1], r[2], r[3], r[7], r[8], r[10], r[11]) for r in rows] == [
        (str(single.pk), "'-Tea or coffee?", "Single choice", "Closed", "3", "Tea", "1", "33"),
        (str(single.pk), "'-Tea or coffee?", "Single choice", "Closed", "3", "'@Coffee", "2", "67"),
        (str(multi.pk), "Which days?", "Multiple choice", "Closed", "3", "Sat", "1", "33"),
        (str(multi.pk), "Which days?", "Multiple choice", "Closed", "3", "Sun", "3", "100"),
    ]
    assert PollStatus.CLOSED.label == "Closed"


def test_poll_votes_list_one_row_per_ballot(api_key_client, room, polls):
    single, multi = polls

    header, *rows = built_csv(api_key_client, room, type=ReportType.POLL_VOTES)

    assert header == [
        "Poll id",
        "Question",
        "Voted at (UTC)",
        "Voter name",
        "Voter user id",
        "Voter device id",
        "Chosen options",
    ]
    assert [(r[0], r[3], r[6]) for r in rows] == [
        (str(single.pk), "ann", "Tea"),
        (str(single.pk), "bob", "'@Coffee"),
        (str(single.pk), "cid", "'@Coffee"),
        (str(multi.pk), "ann", "Sat | Sun"),
        (str(multi.pk), "bob", "Sun"),
        (str(multi.pk), "cid", "Sun"),
    ]


def test_the_chat_history_is_read_in_chunks(api_key_client, room, django_assert_num_queries):
    factories.ChatMessageFactory.create_batch(5, room=room)
    report_id = request_report(api_key_client, room, type=ReportType.CHAT_HISTORIES)

    with django_assert_num_queries(4):
        # the report; the expiry sweep; the messages (one cursor); the status update
        report_build(report_id=report_id)
    # (a second run of a finished report does nothing but read it)
    with django_assert_num_queries(1):
        report_build(report_id=report_id)


# --- The real worker ----------------------------------------------------------------------


def worker_database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_the_db_worker_builds_a_report_end_to_end(api_key_client, room, media_root):
    """`manage.py db_worker` as make run and the systemd unit start it, in batch mode
    (it runs what is queued, then exits)."""
    factories.ChatMessageFactory.create_batch(3, room=room)
    report_id = request_report(api_key_client, room, type=ReportType.CHAT_HISTORIES)

    worker = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--queue-name",
            "reports",
            "--batch",
            "--no-startup-delay",
            "--no-reload",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": worker_database_url(),
            "DJANGO_MEDIA_ROOT": str(media_root),
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert "chatrooms.reports.tasks.build_report" in worker.stdout + worker.stderr
    answer = get_report(api_key_client, room, report_id)
    assert answer["status"] == "REPORT_STATUS_SUCCEEDED"
    assert len(rows_of(download(api_key_client, answer["uri"]))) == 4
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
