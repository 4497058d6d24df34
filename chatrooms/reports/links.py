"""Signed, expiring download links to a report's file.

The link carries the report id signed with the project's secret (django.core.signing,
salted for this use) and the time it was signed; it works for
CHATROOM_REPORT_LINK_TTL. Anyone holding a valid link may download, as with the
upstream's `uri`, so links are handed out only to who may read the report.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.urls import reverse

from chatrooms.signed_links import LinkInvalid, unsign
from chatrooms.signed_links import sign as sign_value

SALT = "chatrooms.reports.download"


def sign(report_id: uuid.UUID) -> str:
    return sign_value(str(report_id), salt=SALT)


def verify(token: str, report_id: uuid.UUID) -> None:
    """Raise LinkExpired or LinkInvalid unless ``token`` is a live link to this report."""
    if unsign(token, salt=SALT, max_age=settings.CHATROOM_REPORT_LINK_TTL) != str(report_id):
        raise LinkInvalid


def path(report) -> str:
    """The download path of a built report, signed now."""
    url = reverse(
        "chatroom_api:report-download",
        kwargs={"room_id": report.room_id, "report_id": report.pk},
    )
    return f"{url}?token={sign(report.pk)}"
