"""The room page's realtime link: the credential the page fetches, and the hooks its
script finds. Anonymous visitors are sent to sign in and accounts without a console role
get a 403 (test_permissions' matrix); the link itself runs in Chromium against a real
broker in test_browser."""

import uuid

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import get_max_age

from chatrooms import auth
from chatrooms.models import ChatStatus, RefreshToken, Role
from chatrooms.realtime import topics
from moderation.views.room import REALTIME_TOKEN_LIFETIME
from tests.moderation.conftest import client_for

pytestmark = pytest.mark.django_db


def realtime_url(room_id) -> str:
    return reverse("moderation:room_realtime", kwargs={"room_id": room_id})


def test_a_moderator_gets_an_admin_token_for_the_room(moderator_client, moderator, room, settings):
    settings.CHATROOM_REALTIME_URL = "wss://chat.example.org/mqtt"

    response = moderator_client.get(realtime_url(room.pk))

    assert response.status_code == 200
    answer = response.json()
    assert answer["url"] == "wss://chat.example.org/mqtt"
    assert answer["topic"] == topics.admin_topic(room.pk)
    claims, token_room = auth.chatroom_token_verify(answer["token"])
    assert token_room == room
    assert claims.role == Role.ADMIN
    assert claims.subject == f"staff:{moderator.pk}"
    assert claims.name == moderator.username
    assert claims.device_id == answer["client_id"]
    lifetime = REALTIME_TOKEN_LIFETIME.total_seconds()
    assert lifetime - 5 <= answer["expires_in"] <= lifetime
    assert claims.expires_at <= timezone.now() + REALTIME_TOKEN_LIFETIME
    # The page asks again for a new one: no refresh token is minted (or left behind).
    assert not RefreshToken.objects.filter(subject=f"staff:{moderator.pk}").exists()


def test_every_answer_is_fresh_and_never_cached(moderator_client, room):
    first = moderator_client.get(realtime_url(room.pk))
    second = moderator_client.get(realtime_url(room.pk))

    assert first.json()["client_id"] != second.json()["client_id"]
    assert first.json()["client_id"].startswith("console-")
    assert "no-store" in first["Cache-Control"]
    assert get_max_age(first) == 0


def test_a_room_admin_gets_one_too(room_admin, room):
    response = client_for(room_admin).get(realtime_url(room.pk))

    claims, _ = auth.chatroom_token_verify(response.json()["token"])
    assert claims.subject == f"staff:{room_admin.pk}"


def test_an_unknown_room_is_not_found(moderator_client):
    assert moderator_client.get(realtime_url(uuid.uuid4())).status_code == 404


def test_the_credential_answers_get_only(moderator, room):
    assert client_for(moderator, csrf=False).post(realtime_url(room.pk)).status_code == 405


def test_the_page_tells_its_script_where_the_credential_is(moderator_client, room):
    page = moderator_client.get(reverse("moderation:room", kwargs={"room_id": room.pk}))

    html = page.content.decode()
    assert f'data-realtime-endpoint="{realtime_url(room.pk)}"' in html
    assert 'data-realtime-client="/static/moderation/vendor/mqtt.min.js"' in html
    for region in ("feed", "poll", "stats", "held"):  # held: the word filter's count
        assert f'data-live="{region}"' in html
    assert html.count('hx-trigger="every 3s, realtime"') == 4
    assert 'src="/static/moderation/realtime.js" defer' in html


def test_an_inactive_room_page_does_not_connect(moderator_client, room):
    # The broker refuses every token of an inactive room; the page just polls.
    room.status = ChatStatus.INACTIVE
    room.save()

    page = moderator_client.get(reverse("moderation:room", kwargs={"room_id": room.pk}))

    assert b"data-realtime-endpoint" not in page.content
    assert page.content.count(b'hx-trigger="every 3s, realtime"') == 4
