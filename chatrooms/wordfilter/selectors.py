"""Reads of the word filter, each with its query shape."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from chatrooms.models import ChatMessage, Chatroom, FilterStatus
from chatrooms.wordfilter.models import ChatroomDictionary, Dictionary, Pattern


def dictionaries() -> QuerySet[Dictionary]:
    """Every dictionary, built-ins first, each with ``pattern_count``: one query."""
    return Dictionary.objects.annotate(pattern_count=Count("patterns")).order_by(
        "-default", "created_at", "id"
    )


def dictionary_get(dictionary_id) -> Dictionary | None:
    return dictionaries().filter(pk=dictionary_id).first()


def patterns_page(dictionary: Dictionary, *, page: int, per_page: int) -> tuple[list, int]:
    """One page of a dictionary's patterns in the order they were added, and the total:
    two queries."""
    patterns = Pattern.objects.filter(dictionary=dictionary).order_by("created_at", "id")
    total = patterns.count()
    start = (page - 1) * per_page
    return list(patterns[start : start + per_page]), total


def room_dictionaries(room: Chatroom) -> list[tuple[Dictionary, bool]]:
    """Every dictionary with whether it is enabled in the room: two queries."""
    enabled = set(
        ChatroomDictionary.objects.filter(room=room).values_list("dictionary_id", flat=True)
    )
    return [(d, d.pk in enabled) for d in dictionaries()]


def enabled_ids(room: Chatroom, dictionary_ids) -> set:
    """Which of these dictionaries the room has enabled: one query."""
    return set(
        ChatroomDictionary.objects.filter(
            room=room, dictionary_id__in=list(dictionary_ids)
        ).values_list("dictionary_id", flat=True)
    )


def dictionary_rooms(dictionary: Dictionary) -> QuerySet[Chatroom]:
    """The rooms that have the dictionary enabled (the console's "used by")."""
    return Chatroom.objects.filter(
        pk__in=ChatroomDictionary.objects.filter(dictionary=dictionary).values("room_id")
    ).order_by("-created_at")


def review_queue(room: Chatroom) -> QuerySet[ChatMessage]:
    """The room's held messages, newest first (``chatrooms_msg_filter_held_idx``); the
    hit is ``message.payload['filter_hit_result']``. Deleted ones are left out."""
    return ChatMessage.objects.filter(
        room=room, filter_status=FilterStatus.HELD, deleted_at__isnull=True
    ).order_by("-received_at", "-id")


def held_counts(room_ids) -> dict:
    """{room id: number of held messages} for the given rooms, in one query."""
    rows = (
        ChatMessage.objects.filter(
            room_id__in=list(room_ids), filter_status=FilterStatus.HELD, deleted_at__isnull=True
        )
        .values("room_id")
        .annotate(n=Count("id"))
        .values_list("room_id", "n")
    )
    return dict(rows)
