"""Reads of reports with their query shape."""

from __future__ import annotations

from chatrooms.models import Chatroom, Report

CONSOLE_REPORTS = 10


def room_reports(*, room: Chatroom, limit: int = CONSOLE_REPORTS) -> list[Report]:
    """A room's newest reports (one query)."""
    return list(Report.objects.filter(room=room).order_by("-created_at", "-id")[:limit])
