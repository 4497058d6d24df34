"""Ending sessions from the console (issue 9, #1): one user's in a room, or the whole
room's. Room admins only, confirmed first, audited, and the tokens stop working."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient

from chatrooms import auth
from chatrooms.models import AuditAction, AuditLogEntry, AuditSource, ChatSession, Role
from tests import factories

pytestmark = pytest.mark.django_db


def url(name, room):
    return reverse(f"moderation:{name}", kwargs={"room_id": room.pk})


def flashes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def works(token: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/bv/chatroom/v1/chatrooms").status_code == 200


@pytest.fixture
def page(room):
    return url("room", room)


@pytest.fixture
def troll(room):
    return auth.chatroom_token_issue(room=room, role=Role.VIEWER, subject="troll", name="Tr")


@pytest.fixture
def fan(room):
    return auth.chatroom_token_issue(room=room, role=Role.VIEWER, subject="fan")


def test_room_admins_see_the_session_actions(room_admin_client, room, page):
    factories.ChatMessageFactory(room=room, user_id="troll")
    factories.BlockedUserFactory(room=room, user_id="troll")

    html = room_admin_client.get(page).content.decode()

    assert url("room_sessions_end", room) in html
    # once on the message, once in the blocked list
    assert html.count(url("user_sessions_end", room)) == 2


def test_moderators_do_not_see_them(moderator_client, room, page):
    factories.ChatMessageFactory(room=room, user_id="troll")
    factories.BlockedUserFactory(room=room, user_id="troll")

    html = moderator_client.get(page).content.decode()

    assert url("room_sessions_end", room) not in html
    assert url("user_sessions_end", room) not in html


def test_ending_a_users_sessions_asks_first(room_admin_client, room, page, troll):
    response = room_admin_client.submit(
        url("user_sessions_end", room), {"user_id": "troll", "next": page}, page=page
    )

    assert "moderation/confirm.html" in [t.name for t in response.templates]
    assert response.context["fields"] == {
        "user_id": "troll",
        "custom_name": "",
        "next": page,
        "confirm": "1",
    }
    assert works(troll.token)


def test_ending_a_users_sessions_once_confirmed(
    room_admin_client, room_admin, room, page, troll, fan
):
    response = room_admin_client.submit(
        url("user_sessions_end", room),
        {"user_id": "troll", "custom_name": "Tr", "confirm": "1", "reason": "spam"},
        page=page,
    )

    assert response.status_code == 302
    assert not works(troll.token)
    assert works(fan.token)
    entry = AuditLogEntry.objects.get(action=AuditAction.SESSIONS_REVOKE)
    assert (entry.actor_user, entry.source) == (room_admin, AuditSource.CONSOLE)
    assert (entry.target_type, entry.target_id, entry.reason) == ("user", "troll", "spam")
    assert flashes(response) == ["Ended 1 session(s) of Tr. Their tokens no longer work."]


def test_ending_sessions_without_a_user_is_a_message(room_admin_client, room, page, troll):
    response = room_admin_client.submit(
        url("user_sessions_end", room), {"user_id": " ", "confirm": "1"}, page=page
    )

    assert response.status_code == 302
    assert flashes(response) == ["Name the user whose sessions to end."]
    assert works(troll.token)


def test_ending_all_sessions_asks_first(room_admin_client, room, page, troll):
    response = room_admin_client.submit(url("room_sessions_end", room), {}, page=page)

    assert "moderation/confirm.html" in [t.name for t in response.templates]
    assert works(troll.token)


def test_ending_all_sessions_once_confirmed(room_admin_client, room_admin, room, page, troll, fan):
    elsewhere = auth.chatroom_token_issue(room=factories.ChatroomFactory())

    response = room_admin_client.submit(
        url("room_sessions_end", room), {"confirm": "1", "reason": "raid"}, page=page
    )

    assert response.status_code == 302
    assert not works(troll.token)
    assert not works(fan.token)
    assert works(elsewhere.token)
    entry = AuditLogEntry.objects.get(action=AuditAction.SESSIONS_REVOKE)
    assert (entry.actor_user, entry.target_type, entry.reason) == (room_admin, "chatroom", "raid")
    assert ChatSession.objects.filter(room=room, revoked_at__isnull=True).count() == 0


@pytest.mark.parametrize("name", ["user_sessions_end", "room_sessions_end"])
def test_session_forms_refuse_a_post_without_the_csrf_token(room_admin_client, room, troll, name):
    response = room_admin_client.post(url(name, room), {"user_id": "troll", "confirm": "1"})

    assert response.status_code == 403
    assert works(troll.token)
    assert not AuditLogEntry.objects.filter(action=AuditAction.SESSIONS_REVOKE).exists()
