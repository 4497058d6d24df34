"""Housekeeping: rooms keep to their message ttl, and rows nothing needs any more go.

``housekeeping_run`` is one pass; ``manage.py housekeeping`` runs one by hand and the
realtime worker runs one every CHATROOM_HOUSEKEEPING_INTERVAL (docs/deploy.md,
"Housekeeping"). Every delete is a batch of at most CHATROOM_HOUSEKEEPING_BATCH rows
chosen by primary key (``DELETE ... WHERE id IN (SELECT id ... LIMIT n)``), each its
own transaction: a pass holds no lock longer than one batch, and row locks only on the
rows it deletes, which nothing else writes (messages past their ttl, spent tokens).

What is pruned, and why it is safe:

- messages older than their room's ``message_ttl`` (history already leaves them out:
  ``selectors.message_list``), per room on ``chatrooms_msg_room_time_idx``;
- refresh tokens past their expiry: refusing an expired one or an unknown one is the
  same refusal, and a token never outlives its session;
- sessions past their absolute expiry, revoked or not: no token of a session outlives
  ``expires_at`` and the revocation check only reads unexpired sessions
  (``auth.revoked_sessions``), so a revoked session stays as long as any of its tokens
  could be presented;
- counter increments already added to their counter (``applied``: rolled up by
  ``services.chatroom_rollup``), and slow-mode rows whose wait is over (a missing row
  and a past one let the next send through alike);
- finished task-queue rows (django-tasks) older than CHATROOM_TASK_RESULT_RETENTION;
- report files older than CHATROOM_REPORT_RETENTION (``reports_expire``; the rows
  stay), and reports still RUNNING after CHATROOM_REPORT_STUCK_AFTER become FAILED.

Never touched: the audit log, polls and their ballots, pinned messages (a pin is a
snapshot of the message's text; it stays until an admin unpins it, even once the
message itself has expired), blocks, reports' rows.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Model, QuerySet
from django.utils import timezone

from chatrooms.models import (
    ChatMessage,
    Chatroom,
    ChatSession,
    CounterIncrement,
    RefreshToken,
    Report,
    ReportStatus,
    SlowModeSend,
)

logger = logging.getLogger(__name__)

KINDS = (
    "messages",
    "refresh_tokens",
    "sessions",
    "counter_increments",
    "slow_mode",
    "task_results",
    "report_files",
    "stuck_reports",
)
# Held for a pass on PostgreSQL, so that of the workers that run one at the same time
# only one does the work (pg_try_advisory_lock; any constant unique to this use).
ADVISORY_LOCK_KEY = 0x43484B50  # "CHKP"


def housekeeping_run(*, dry_run: bool = False, now: datetime | None = None) -> dict[str, int]:
    """One pass: the number of rows of each kind deleted (or, with ``dry_run``, that
    would be), in KINDS order. On PostgreSQL a pass another process is running already
    is skipped (every count 0)."""
    now = now or timezone.now()
    if not _claim():
        logger.info("housekeeping: another process is running a pass; skipped")
        return dict.fromkeys(KINDS, 0)
    started = time.monotonic()
    try:
        counts = {
            "messages": _expired_messages(now=now, dry_run=dry_run),
            "refresh_tokens": _prune(
                RefreshToken.objects.filter(expires_at__lte=now), dry_run=dry_run
            ),
            "sessions": _prune(ChatSession.objects.filter(expires_at__lte=now), dry_run=dry_run),
            "counter_increments": _prune(
                CounterIncrement.objects.filter(applied=True), dry_run=dry_run
            ),
            "slow_mode": _prune(
                SlowModeSend.objects.filter(next_send_at__lte=now), dry_run=dry_run
            ),
            "task_results": _task_results(now=now, dry_run=dry_run),
            "report_files": _report_files(now=now, dry_run=dry_run),
            "stuck_reports": _stuck_reports(now=now, dry_run=dry_run),
        }
    finally:
        _release()
    logger.info(
        "housekeeping%s in %.3fs: %s",
        " (dry run)" if dry_run else "",
        time.monotonic() - started,
        " ".join(f"{kind}={n}" for kind, n in counts.items()),
    )
    return counts


def _claim() -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        return cursor.fetchone()[0]


def _release() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


def _prune(rows: QuerySet, *, dry_run: bool) -> int:
    """Delete ``rows`` a batch at a time, each batch its own transaction."""
    if dry_run:
        return rows.count()
    model: type[Model] = rows.model
    size = settings.CHATROOM_HOUSEKEEPING_BATCH
    deleted = 0
    while True:
        batch = rows.order_by().values("pk")[:size]
        # One statement, DELETE ... WHERE id IN (SELECT id ... LIMIT n), its own
        # transaction (a session's refresh tokens go with it, in the same one).
        _, per_model = model.objects.filter(pk__in=batch).delete()
        n = per_model.get(model._meta.label, 0)  # a session's tokens are not counted
        deleted += n
        if n < size:
            return deleted


def _expired_messages(*, now: datetime, dry_run: bool) -> int:
    """Per room, its messages received before ``now - message_ttl``: each batch is read
    from the front of the room's (room, received_at) index."""
    deleted = 0
    for room_id, ttl in Chatroom.objects.order_by().values_list("pk", "message_ttl"):
        deleted += _prune(
            ChatMessage.objects.filter(room_id=room_id, received_at__lt=now - ttl),
            dry_run=dry_run,
        )
    return deleted


def _task_results(*, now: datetime, dry_run: bool) -> int:
    from django_tasks_db.models import DBTaskResult

    cutoff = now - settings.CHATROOM_TASK_RESULT_RETENTION
    return _prune(DBTaskResult.objects.finished().filter(finished_at__lt=cutoff), dry_run=dry_run)


def _report_files(*, now: datetime, dry_run: bool) -> int:
    from chatrooms.reports import services as reports

    if dry_run:
        cutoff = now - settings.CHATROOM_REPORT_RETENTION
        return Report.objects.filter(
            status=ReportStatus.SUCCEEDED, expired_at__isnull=True, finished_at__lt=cutoff
        ).count()
    expired = 0
    while n := reports.reports_expire(now=now):
        expired += n
    return expired


def _stuck_reports(*, now: datetime, dry_run: bool) -> int:
    """Reports RUNNING for longer than CHATROOM_REPORT_STUCK_AFTER: their job was lost
    (its worker died mid-build) or waits behind far too much; they become FAILED, so
    that clients stop polling. A build that comes later finds them finished and does
    nothing (``reports.services.report_build``)."""
    bound = settings.CHATROOM_REPORT_STUCK_AFTER
    stuck = Report.objects.filter(status=ReportStatus.RUNNING, created_at__lt=now - bound)
    if dry_run:
        return stuck.count()
    hours = bound.total_seconds() / 3600
    return stuck.update(
        status=ReportStatus.FAILED,
        error=f"Timed out: still running after {hours:g} h (housekeeping).",
        finished_at=now,
    )
