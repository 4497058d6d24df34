"""Every write of a report: request it, build it (in the worker), expire old files."""

from __future__ import annotations

import csv
import io
import logging
import re
import tempfile
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from chatrooms.auth import Actor
from chatrooms.errors import InvalidArgument
from chatrooms.models import AuditAction, Chatroom, Report, ReportStatus, ReportType
from chatrooms.reports import writers
from chatrooms.services import audit_record

logger = logging.getLogger(__name__)

MAX_FILE_NAME = 200
# What a download's name may hold: letters and digits of any script, and - _ . ( ) and
# spaces; anything else becomes "_".
UNSAFE_NAME_CHARS = re.compile(r"[^\w\-. ()]", re.UNICODE)


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``UTC`` when empty), or INVALID_ARGUMENT on time_zone."""
    name = name or "UTC"
    # available_timezones() keeps "../etc" and similar out of ZoneInfo's file lookup.
    if name not in available_timezones() and name != "UTC":
        raise _bad_zone(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad_zone(name) from None


def _bad_zone(name: str) -> InvalidArgument:
    return InvalidArgument(
        f"Unknown time zone {name[:64]!r}.",
        field_violations=[("time_zone", "Must be an IANA time zone name, e.g. Asia/Taipei.")],
    )


def clean_file_name(name: str, room: Chatroom) -> str:
    """The download's name without ``.csv``: the room id when none is given."""
    name = UNSAFE_NAME_CHARS.sub("_", name.strip()).strip(". ")
    name = re.sub(r"\.csv$", "", name, flags=re.IGNORECASE)
    return name[:MAX_FILE_NAME] or str(room.pk)


def report_request(
    *,
    actor: Actor,
    room: Chatroom,
    type: ReportType,
    file_name: str = "",
    time_zone: str = "",
    custom_event_id: str = "",
) -> Report:
    """Record a report (RUNNING) and enqueue its build, with its audit row.

    The queue's row is written in this same transaction (django-tasks' database
    backend): the report and the job that builds it exist together or not at all.
    """
    from chatrooms.reports.tasks import build_report

    zone = zone_named(time_zone)
    with transaction.atomic():
        report = Report.objects.create(
            room=room,
            type=type,
            file_name=clean_file_name(file_name, room),
            time_zone=str(zone.key),
            custom_event_id=custom_event_id,
            requested_by=actor.name or actor.id,
        )
        audit_record(
            actor=actor,
            action=AuditAction.REPORT_REQUEST,
            room=room,
            target_type="report",
            target_id=report.pk,
            after={"type": report.type, "file_name": report.file_name, "time_zone": zone.key},
        )
        build_report.enqueue(str(report.pk))
    return report


def report_build(*, report_id: uuid.UUID | str) -> Report | None:
    """Write the report's CSV to the default storage and mark it SUCCEEDED, or FAILED
    with the reason. Called by the worker; safe to call again for a finished report
    (it does nothing)."""
    report = Report.objects.select_related("room").filter(pk=report_id).first()
    if report is None or report.status != ReportStatus.RUNNING:
        return report
    reports_expire()
    try:
        name, rows = _write(report)
    except Exception as exc:
        logger.exception("report %s failed", report.pk)
        report.status, report.error = ReportStatus.FAILED, type(exc).__name__[:500]
    else:
        report.status, report.file, report.rows = ReportStatus.SUCCEEDED, name, rows
        logger.info("report %s: %d rows in %s", report.pk, rows, name)
    report.finished_at = timezone.now()
    report.save(update_fields=["status", "error", "file", "rows", "finished_at"])
    return report


def _write(report: Report) -> tuple[str, int]:
    """Stream the rows through a temporary file on disk into the storage."""
    zone = ZoneInfo(report.time_zone)
    header, rows = writers.header_and_rows(report, zone)
    count = 0
    with tempfile.TemporaryFile() as raw:
        # A byte-order mark, so spreadsheets read the file as UTF-8.
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
        text.flush()
        raw.seek(0)
        field = report.file.field
        name = field.generate_filename(report, f"{report.pk}.csv")
        stored = field.storage.save(name, File(raw), max_length=field.max_length)
        text.detach()
    return stored, count


def reports_expire(*, now=None) -> int:
    """Delete the files of reports built more than CHATROOM_REPORT_RETENTION ago; the
    rows stay (status SUCCEEDED, no file: their link answers 404)."""
    cutoff = (now or timezone.now()) - settings.CHATROOM_REPORT_RETENTION
    expired = 0
    old = Report.objects.filter(
        status=ReportStatus.SUCCEEDED, expired_at__isnull=True, finished_at__lt=cutoff
    )
    for report in old.only("pk", "file")[:500]:
        if report.file:
            report.file.storage.delete(report.file.name)
        Report.objects.filter(pk=report.pk).update(expired_at=timezone.now(), file="")
        expired += 1
    return expired
