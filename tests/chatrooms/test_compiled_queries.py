"""chatrooms.compiled: a queryset compiled once per shape returns what the ORM returns,
with each request's values in their places; what cannot be compiled safely runs as usual."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from chatrooms import selectors
from chatrooms.compiled import CompiledQuery
from chatrooms.models import ChatMessage, InteractionType
from tests import factories

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite changes datetimes and UUIDs: not compiled"
)


def page(values):
    condition = Q(room_id=values["room"], received_at__gte=values["since"])
    if "types" in values:
        condition &= Q(type__in=values["types"])
    if "user" in values:
        condition &= Q(user_id=values["user"])
    return ChatMessage.objects.filter(condition).order_by("-received_at", "-id")[:5]


class Counting:
    def __init__(self, build):
        self.build, self.calls = build, 0

    def __call__(self, values):
        self.calls += 1
        return self.build(values)


@pytest.fixture
def two_rooms():
    now = timezone.now()
    rooms = [factories.ChatroomFactory(), factories.ChatroomFactory()]
    for room in rooms:
        for index in range(7):
            ChatMessage.objects.create(
                room=room,
                type=InteractionType.CUSTOM if index % 3 == 0 else InteractionType.TEXT,
                user_id=f"user-{index % 2}",
                text=f"{room.label} {index}",
                payload={"index": index},
                sent_at=now,
                received_at=now - timedelta(seconds=index),
            )
    return rooms


def shapes(rooms):
    since = timezone.now() - timedelta(seconds=4, milliseconds=500)
    for room in rooms:
        yield ("plain",), {"room": room.pk, "since": since}
        yield ("typed", 1), {"room": room.pk, "since": since, "types": (InteractionType.TEXT,)}
        yield (
            ("typed", 2),
            {
                "room": room.pk,
                "since": since,
                "types": (InteractionType.TEXT, InteractionType.CUSTOM),
            },
        )
        yield ("user",), {"room": room.pk, "since": since, "user": "user-1"}


def as_compared(messages):
    return [(m.pk, m.room_id, m.text, m.payload, m.received_at) for m in messages]


def test_every_shape_returns_what_the_orm_returns(two_rooms, django_assert_num_queries):
    query = CompiledQuery(ChatMessage)
    for _round in range(2):  # the second runs the compiled SQL
        for shape, values in shapes(two_rooms):
            with django_assert_num_queries(1):
                rows = query.rows(shape, values, page)
            assert as_compared(rows) == as_compared(page(values))
            assert rows and all(isinstance(row, ChatMessage) for row in rows)
            assert all(row._state.adding is False for row in rows)


@on_postgresql
def test_a_shape_is_built_once_then_run_with_new_values(two_rooms):
    query, build = CompiledQuery(ChatMessage), Counting(page)
    since = timezone.now() - timedelta(days=1)

    first = query.rows("plain", {"room": two_rooms[0].pk, "since": since}, build)
    second = query.rows("plain", {"room": two_rooms[1].pk, "since": since}, build)

    assert build.calls == 1  # the stand-ins' build; then the compiled SQL, twice
    assert {m.room_id for m in first} == {two_rooms[0].pk}
    assert {m.room_id for m in second} == {two_rooms[1].pk}


def test_history_pages_are_compiled_on_postgresql_only(two_rooms):
    room = two_rooms[0]
    selectors.message_list(room=room, viewer_id="someone", viewer_is_admin=False, limit=3)

    compiled = [value for (alias, _shape), value in selectors._history_pages._compiled.items()]
    assert compiled
    if connection.vendor == "postgresql":
        assert all(isinstance(value, tuple) for value in compiled)
    else:  # SQLite's union is a raw query: it runs as before
        assert all(not isinstance(value, tuple) for value in compiled)


def test_a_value_the_orm_changes_is_not_compiled(two_rooms):
    query, build = (
        CompiledQuery(ChatMessage),
        Counting(lambda values: ChatMessage.objects.filter(text__startswith=values["prefix"])[:5]),
    )
    values = {"prefix": two_rooms[0].label}

    for _ in range(2):
        rows = query.rows("prefix", values, build)
        assert {m.room_id for m in rows} == {two_rooms[0].pk}

    # startswith escapes and wraps the value ("...%"): its place cannot be found, so the
    # queryset is built with the real value each time.
    assert build.calls == 3


def test_a_value_left_out_of_the_sql_is_not_compiled(two_rooms):
    query, build = (
        CompiledQuery(ChatMessage),
        Counting(lambda values: ChatMessage.objects.filter(room_id=values["room"])[:5]),
    )
    values = {"room": two_rooms[1].pk, "unused": uuid.uuid4()}

    for _ in range(2):
        assert {m.room_id for m in query.rows("unused", values, build)} == {two_rooms[1].pk}

    assert build.calls == 3


def test_rows_that_are_not_the_models_columns_are_not_compiled(two_rooms):
    query, build = (
        CompiledQuery(ChatMessage),
        Counting(
            lambda values: ChatMessage.objects.filter(room_id=values["room"]).only("id", "text")[:5]
        ),
    )
    values = {"room": two_rooms[0].pk}

    for _ in range(2):
        rows = query.rows("only", values, build)
        assert len(rows) == 5 and all(m.text.startswith(two_rooms[0].label) for m in rows)

    assert build.calls == 3
