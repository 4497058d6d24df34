"""The audit log: every moderation action from the API, the console and the
admin, filtered and paged, and exported as CSV. Rows are only ever read here."""

import csv
import json

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from chatrooms import selectors
from chatrooms.models import AuditLogEntry
from chatrooms.spreadsheets import csv_safe
from moderation.access import moderator_required, visible_audit_entries
from moderation.filters import AuditLogFilter
from moderation.paging import decode_cursor, encode_cursor

AUDIT_ORDER = ("-created_at", "-id")
AUDIT_PAGE_SIZE = 50
CSV_COLUMNS = [
    "created_at",
    "action",
    "source",
    "actor_kind",
    "actor_id",
    "actor_name",
    "room_id",
    "room_label",
    "target_type",
    "target_id",
    "reason",
    "before",
    "after",
]


@moderator_required
@require_GET
def audit_log(request):
    entries = selectors.audit_log_queryset(entries=visible_audit_entries(request.user))
    filters = AuditLogFilter(request.GET or None, queryset=entries)
    page = selectors.keyset_page(
        filters.qs,
        order=AUDIT_ORDER,
        after=decode_cursor(request.GET.get("after", ""), AuditLogEntry, AUDIT_ORDER),
        before=decode_cursor(request.GET.get("before", ""), AuditLogEntry, AUDIT_ORDER),
        size=AUDIT_PAGE_SIZE,
    )
    return render(
        request,
        "moderation/audit.html",
        {
            "form": filters.form,
            "entries": page.items,
            "next_cursor": encode_cursor(page.next_after),
            "prev_cursor": encode_cursor(page.prev_before),
            "filtered": filters.filtered,
        },
    )


class _Echo:
    """A file-like object that hands back what csv.writer writes."""

    def write(self, value):
        return value


def _csv_rows(entries):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for entry in entries:
        yield writer.writerow(
            [
                entry.created_at.isoformat(),
                entry.action,
                entry.source,
                entry.actor_kind,
                csv_safe(entry.actor_id),
                csv_safe(entry.actor_name),
                entry.room_id or "",
                csv_safe(entry.room.label) if entry.room else "",
                entry.target_type,
                csv_safe(entry.target_id),
                csv_safe(entry.reason),
                json.dumps(entry.before, ensure_ascii=False) if entry.before is not None else "",
                json.dumps(entry.after, ensure_ascii=False) if entry.after is not None else "",
            ]
        )


@moderator_required
@require_GET
def audit_log_csv(request):
    """The rows matching the page's filters, newest first, streamed."""
    entries = selectors.audit_log_queryset(entries=visible_audit_entries(request.user))
    filters = AuditLogFilter(request.GET or None, queryset=entries)
    response = StreamingHttpResponse(
        _csv_rows(filters.qs.order_by(*AUDIT_ORDER).iterator(chunk_size=2000)),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response
