"""The rows of each report type, as a spreadsheet user reads them.

Headers are plain words (no API field names); times are in the report's zone, written
``YYYY-MM-DD HH:MM:SS.mmm`` (which spreadsheets read as a date and time) with the zone
named in the header; yes/no for flags; every cell of user text goes through
``csv_safe`` so a spreadsheet never runs it as a formula. The columns are listed in
docs/api.md ("Reports").

Each writer iterates its query in chunks (``iterator(chunk_size=...)``: a server-side
cursor on PostgreSQL), so a room with a million messages is written in bounded memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Count, Prefetch

from chatrooms.models import (
    ChatMessage,
    InteractionType,
    Poll,
    PollBallot,
    PollOption,
    PollType,
    PollVote,
    ReportType,
)
from chatrooms.spreadsheets import csv_safe

CHUNK_SIZE = 2000
TYPE_LABELS = dict(InteractionType.choices)
POLL_TYPE_LABELS = dict(PollType.choices)


def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def role(is_admin: bool, is_guest: bool) -> str:
    if is_admin:
        return "admin"
    return "guest" if is_guest else "viewer"


def message_text(text: str, payload: dict) -> str:
    """The text a person sent, or, for a message without text (a custom message, a
    sticker), its body as compact JSON."""
    if text or not payload:
        return text
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# --- Chat history: one row per stored message, oldest first -----------------------------


def chat_history_header(zone_name: str, event_id: str) -> list[str]:
    header = [
        f"Sent at ({zone_name})",
        "Sender name",
        "Sender user id",
        "Sender device id",
        "Sender role",
        "Message type",
        "Message",
        "Sender blocked when sent",
        "Hidden from viewers (sender blocked)",
        "Deleted",
        f"Deleted at ({zone_name})",
        "Deleted by",
        "Message id",
    ]
    return [*header, "Event ID"] if event_id else header


def chat_history_rows(room, zone: ZoneInfo, event_id: str) -> Iterator[list]:
    messages = (
        ChatMessage.objects.filter(room=room)
        .order_by("received_at", "id")
        .values_list(
            "received_at",
            "user_custom_name",
            "user_id",
            "user_device_id",
            "user_is_admin",
            "user_is_guest",
            "type",
            "text",
            "payload",
            "user_blocked",
            "sender_hidden",
            "deleted_at",
            "deleted_by_custom_name",
            "deleted_by_id",
            "id",
        )
    )
    extra = [csv_safe(event_id)] if event_id else []
    for (
        received_at,
        name,
        user_id,
        device_id,
        is_admin,
        is_guest,
        kind,
        text,
        payload,
        blocked,
        hidden,
        deleted_at,
        deleted_by_name,
        deleted_by_id,
        message_id,
    ) in messages.iterator(chunk_size=CHUNK_SIZE):
        yield [
            local_time(received_at, zone),
            csv_safe(name),
            csv_safe(user_id),
            csv_safe(device_id),
            role(is_admin, is_guest),
            TYPE_LABELS.get(kind, kind),
            csv_safe(message_text(text, payload)),
            yes_no(blocked),
            yes_no(hidden),
            yes_no(deleted_at is not None),
            local_time(deleted_at, zone),
            csv_safe(deleted_by_name or deleted_by_id),
            message_id,
            *extra,
        ]


# --- Poll summaries: one row per option of every poll, polls in creation order ----------


def poll_summaries_header(zone_name: str) -> list[str]:
    return [
        "Poll id",
        "Question",
        "Poll type",
        "Poll status",
        f"Created at ({zone_name})",
        f"Started at ({zone_name})",
        f"Ended at ({zone_name})",
        "Voters",
        "Option",
        "Correct answer",
        "Votes",
        "Share of voters (%)",
    ]


def poll_summaries_rows(room, zone: ZoneInfo) -> Iterator[list]:
    # Counted from the ballots themselves, so a report is exact even before the
    # displayed counts' next roll-up (services.chatroom_rollup).
    options = PollOption.objects.annotate(counted_votes=Count("votes")).order_by("position", "id")
    polls = (
        Poll.objects.filter(room=room)
        .annotate(voters=Count("ballots"))
        .prefetch_related(Prefetch("options", queryset=options))
        .order_by("created_at", "id")
    )
    for poll in polls.iterator(chunk_size=200):
        for option in poll.options.all():
            share = round(100 * option.counted_votes / poll.voters) if poll.voters else 0
            yield [
                poll.pk,
                csv_safe(poll.question),
                POLL_TYPE_LABELS.get(poll.type, poll.type),
                poll.get_status_display(),
                local_time(poll.created_at, zone),
                local_time(poll.started_at, zone),
                local_time(poll.ended_at, zone),
                poll.voters,
                csv_safe(option.text),
                yes_no(option.corrected),
                option.counted_votes,
                share,
            ]


# --- Poll votes: one row per ballot (a voter's vote in one poll) -----------------------


def poll_votes_header(zone_name: str) -> list[str]:
    return [
        "Poll id",
        "Question",
        f"Voted at ({zone_name})",
        "Voter name",
        "Voter user id",
        "Voter device id",
        "Chosen options",
    ]


def poll_votes_rows(room, zone: ZoneInfo) -> Iterator[list]:
    votes = PollVote.objects.select_related("option").order_by("option__position", "option_id")
    ballots = (
        PollBallot.objects.filter(poll__room=room)
        .select_related("poll")
        .only(
            "cast_at",
            "voter_custom_name",
            "voter_id",
            "voter_device_id",
            "poll__id",
            "poll__question",
        )
        .prefetch_related(Prefetch("votes", queryset=votes))
        .order_by("poll__created_at", "poll_id", "cast_at", "id")
    )
    for ballot in ballots.iterator(chunk_size=CHUNK_SIZE):
        yield [
            ballot.poll_id,
            csv_safe(ballot.poll.question),
            local_time(ballot.cast_at, zone),
            csv_safe(ballot.voter_custom_name),
            csv_safe(ballot.voter_id),
            csv_safe(ballot.voter_device_id),
            csv_safe(" | ".join(vote.option.text for vote in ballot.votes.all())),
        ]


def header_and_rows(report, zone: ZoneInfo) -> tuple[list[str], Iterator[list]]:
    name = report.time_zone
    if report.type == ReportType.CHAT_HISTORIES:
        event_id = report.custom_event_id
        return chat_history_header(name, event_id), chat_history_rows(report.room, zone, event_id)
    if report.type == ReportType.POLL_SUMMARIES:
        return poll_summaries_header(name), poll_summaries_rows(report.room, zone)
    return poll_votes_header(name), poll_votes_rows(report.room, zone)
