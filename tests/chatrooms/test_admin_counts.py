"""The admin at a million rows: the big tables' changelists count nothing whole.

On PostgreSQL an unfiltered changelist takes its count from the planner's estimate
(``EstimatedCountPaginator``); the tests shrink what counts as big so that a few dozen
rows stand for a million (the code path is the same) and read the SQL the page sent.
"""

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chatrooms.admin import EstimatedCountPaginator
from chatrooms.models import (
    ActorKind,
    AuditAction,
    AuditLogEntry,
    AuditSource,
    ChatMessage,
    ChatSession,
    CounterIncrement,
    InteractionType,
    PollBallot,
    PollVote,
    RefreshToken,
    Role,
)
from tests import factories

pytestmark = pytest.mark.django_db

BIG_MODELS = [ChatMessage, AuditLogEntry, CounterIncrement, PollBallot, PollVote]
BIG_MODELS += [ChatSession, RefreshToken]
ROWS = 30

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="reltuples is PostgreSQL's"
)


def add_rows(model, room, n: int) -> None:
    now = timezone.now()
    start = model.objects.count()
    if model is ChatMessage:
        ChatMessage.objects.bulk_create(
            ChatMessage(room=room, type=InteractionType.TEXT, text="t", sent_at=now)
            for _ in range(n)
        )
    elif model is AuditLogEntry:
        AuditLogEntry.objects.bulk_create(
            AuditLogEntry(
                action=AuditAction.ROOM_MUTE,
                source=AuditSource.API,
                actor_kind=ActorKind.SYSTEM,
                room=room,
            )
            for _ in range(n)
        )
    elif model is CounterIncrement:
        CounterIncrement.objects.bulk_create(
            CounterIncrement(room=room, key="k", value=1) for _ in range(n)
        )
    elif model in (PollBallot, PollVote):
        poll = factories.PollFactory(room=room)
        option = poll.options.first()
        ballots = PollBallot.objects.bulk_create(
            PollBallot(poll=poll, voter_key=f"v{start + i}") for i in range(n)
        )
        PollVote.objects.bulk_create(
            PollVote(ballot=ballot, poll=poll, option=option) for ballot in ballots
        )
    elif model in (ChatSession, RefreshToken):
        later = now + timedelta(days=1)
        sessions = ChatSession.objects.bulk_create(
            ChatSession(
                room=room,
                subject=f"u{i}",
                device_id="d",
                name="n",
                role=Role.VIEWER,
                key_id="default",
                expires_at=later,
            )
            for i in range(n)
        )
        RefreshToken.objects.bulk_create(
            RefreshToken(
                token_hash=f"{start + i:064x}",
                family=session.pk,
                session=session,
                room=room,
                subject=session.subject,
                device_id="d",
                name="n",
                role=Role.VIEWER,
                expires_at=later,
            )
            for i, session in enumerate(sessions)
        )


def changelist_sql(client, model, **params) -> list[str]:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def counts_of(sql: list[str], model) -> list[str]:
    table = model._meta.db_table
    return [q for q in sql if re.search(r"COUNT\(", q, re.I) and table in q]


def test_every_big_model_uses_the_estimating_paginator():
    for model in BIG_MODELS:
        assert admin.site._registry[model].paginator is EstimatedCountPaginator


@postgres_only
@pytest.mark.parametrize("model", BIG_MODELS, ids=lambda m: m.__name__)
def test_an_unfiltered_changelist_counts_nothing_once_analyzed(
    admin_client, room, model, monkeypatch
):
    # ROWS rows stand for a big table: the same branch as at a million rows.
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_UP_TO", ROWS)
    add_rows(model, room, ROWS)
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{model._meta.db_table}"')

    sql = changelist_sql(admin_client, model)

    assert counts_of(sql, model) == []
    # More rows, the same queries: the page's cost does not grow with the table.
    add_rows(model, room, ROWS)
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{model._meta.db_table}"')
    assert len(changelist_sql(admin_client, model)) == len(sql)


@postgres_only
@pytest.mark.parametrize("model", BIG_MODELS, ids=lambda m: m.__name__)
def test_without_an_estimate_the_count_is_bounded(admin_client, room, model, monkeypatch):
    # Far above the table's estimate, whatever ANALYZE last saw (autovacuum may be off):
    # the branch of a never-analyzed table (reltuples = -1).
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_UP_TO", 10**9)
    add_rows(model, room, 3)

    sql = changelist_sql(admin_client, model)

    (count,) = counts_of(sql, model)
    assert re.search(r"LIMIT 1000000000", count), count


@postgres_only
def test_the_estimate_is_never_negative_and_a_small_table_is_counted_exactly(room):
    add_rows(ChatMessage, room, 3)
    paginator = EstimatedCountPaginator(ChatMessage.objects.order_by("-received_at"), 50)
    assert paginator.count == 3


def test_a_filtered_changelist_counts_exactly(admin_client, room):
    add_rows(ChatMessage, room, 3)
    sql = changelist_sql(admin_client, ChatMessage, type=InteractionType.TEXT)

    (count,) = counts_of(sql, ChatMessage)
    assert "LIMIT" not in count.upper()
