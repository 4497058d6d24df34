"""The audit log page: every source shows, filters, keyset paging, a fixed
number of queries, and the CSV export with the page's filters."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from chatrooms import services
from chatrooms.auth import Actor
from chatrooms.models import AuditAction, AuditLogEntry, AuditSource
from moderation.views.audit import AUDIT_PAGE_SIZE, CSV_COLUMNS
from tests import factories
from tests.chatrooms.audit_tamper import backdate

pytestmark = pytest.mark.django_db

AUDIT = reverse("moderation:audit")
AUDIT_CSV = reverse("moderation:audit_csv")


def entries(response) -> list[AuditLogEntry]:
    return list(response.context["entries"])


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def log(room, moderator):
    """One action from each source."""
    token_user = Actor(
        kind="chatroom_token", source=AuditSource.API, id="host-1", name="Host", is_admin=True
    )
    services.user_block(actor=token_user, room=room, user_id="u-1", reason="spam")
    services.chatroom_set_muted(actor=Actor.staff(moderator), room=room, muted=True)
    services.message_pin(
        actor=Actor.staff(moderator, source=AuditSource.ADMIN),
        room=room,
        message=services.MessageSnapshot(id="m-1", text="hi"),
    )
    return room


def test_actions_from_the_api_the_console_and_the_admin_all_show(moderator_client, log):
    response = moderator_client.get(AUDIT)

    assert [(e.action, e.source) for e in entries(response)] == [
        (AuditAction.MESSAGE_PIN, AuditSource.ADMIN),
        (AuditAction.ROOM_MUTE, AuditSource.CONSOLE),
        (AuditAction.USER_BLOCK, AuditSource.API),
        (AuditAction.ROOM_CREATE, AuditSource.COMMAND),  # the room fixture
    ]
    html = response.content.decode()
    assert "Host" in html and "mia-moderator" in html
    assert "spam" in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action": AuditAction.USER_BLOCK}, [AuditAction.USER_BLOCK]),
        ({"source": AuditSource.CONSOLE}, [AuditAction.ROOM_MUTE]),
        ({"actor": "Host"}, [AuditAction.USER_BLOCK]),
        ({"actor": "mia-moderator"}, [AuditAction.MESSAGE_PIN, AuditAction.ROOM_MUTE]),
        ({"actor": "host-1"}, [AuditAction.USER_BLOCK]),
    ],
)
def test_filters(moderator_client, log, params, expected):
    assert [e.action for e in entries(moderator_client.get(AUDIT, params))] == expected


def test_filter_by_room(moderator_client, log, system_actor):
    other = services.chatroom_create(actor=system_actor)

    assert {e.room_id for e in entries(moderator_client.get(AUDIT, {"room": str(other.pk)}))} == {
        other.pk
    }
    assert len(entries(moderator_client.get(AUDIT, {"room": str(log.pk)}))) == 4  # + create


def test_filter_by_time(moderator_client, log):
    # Entries take the server's time when written: an old one is back-dated behind the
    # app's back (which breaks the hash chain; not checked here).
    past = timezone.now() - timedelta(days=3)
    old = AuditLogEntry.objects.create(
        action=AuditAction.ROOM_UPDATE,
        source=AuditSource.COMMAND,
        actor_kind="system",
        room=log,
    )
    backdate(old, past)
    until = (past + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    assert entries(moderator_client.get(AUDIT, {"until": until})) == [old]
    recent = entries(moderator_client.get(AUDIT, {"since": since}))
    assert len(recent) == 4
    assert old not in recent


def test_an_invalid_filter_is_ignored_and_shown(moderator_client, log):
    response = moderator_client.get(AUDIT, {"room": "not-a-uuid"})

    assert response.status_code == 200
    assert response.context["form"].errors["room"]
    assert len(entries(response)) == 4


def test_keyset_pages_newest_first(moderator_client, room, system_actor):
    for _ in range(AUDIT_PAGE_SIZE + 3):
        services.audit_record(actor=system_actor, action=AuditAction.ROOM_UPDATE, room=room)

    first = moderator_client.get(AUDIT)
    second = moderator_client.get(AUDIT, {"after": first.context["next_cursor"]})

    seen = [e.pk for e in entries(first)] + [e.pk for e in entries(second)]
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == AuditLogEntry.objects.count()
    assert second.context["next_cursor"] == ""
    back = moderator_client.get(AUDIT, {"before": second.context["prev_cursor"]})
    assert entries(back) == entries(first)


def test_the_page_runs_a_fixed_number_of_queries(
    moderator_client, room, system_actor, django_assert_num_queries
):
    # 1 session, 2 user, 3 user permissions, 4 group permissions,
    # 5 one page of entries with their rooms joined.
    queries = 5
    services.audit_record(actor=system_actor, action=AuditAction.ROOM_UPDATE, room=room)
    with django_assert_num_queries(queries):
        moderator_client.get(AUDIT)

    for _ in range(199):
        other = factories.ChatroomFactory()
        services.audit_record(actor=system_actor, action=AuditAction.ROOM_UPDATE, room=other)
    with django_assert_num_queries(queries):
        response = moderator_client.get(AUDIT, {"action": AuditAction.ROOM_UPDATE})
    assert len(entries(response)) == AUDIT_PAGE_SIZE


def test_csv_export_follows_the_filters(moderator_client, log):
    response = moderator_client.get(AUDIT_CSV, {"source": AuditSource.API})

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    [row] = csv_rows(response)
    assert list(row) == CSV_COLUMNS
    assert (row["action"], row["actor_name"], row["target_id"], row["reason"]) == (
        AuditAction.USER_BLOCK,
        "Host",
        "u-1",
        "spam",
    )
    assert row["room_id"] == str(log.pk)


def test_csv_export_of_everything_newest_first(moderator_client, log):
    rows = csv_rows(moderator_client.get(AUDIT_CSV))

    assert [r["action"] for r in rows] == [
        e.action for e in AuditLogEntry.objects.order_by("-created_at", "-id")
    ]


def test_csv_export_defuses_formulas(moderator_client, room):
    token_user = Actor(kind="chatroom_token", source=AuditSource.API, id="=1+1", name="@evil")
    services.user_block(actor=token_user, room=room, user_id="u", reason="+danger")

    [row] = [r for r in csv_rows(moderator_client.get(AUDIT_CSV)) if r["action"] == "user.block"]

    assert (row["actor_id"], row["actor_name"], row["reason"]) == ("'=1+1", "'@evil", "'+danger")


def test_the_log_offers_no_way_to_change_it(moderator_client, log):
    html = moderator_client.get(AUDIT).content.decode()

    assert 'method="post"' not in html.split('<main id="main"', 1)[1]
