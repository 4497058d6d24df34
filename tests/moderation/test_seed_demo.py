"""make run's demo data: a room with messages, a login per role, a working API key."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from chatrooms.models import ChatMessage, Chatroom
from moderation import roles
from tests.moderation.conftest import ConsoleClient

pytestmark = pytest.mark.django_db


def test_seed_demo_prints_working_sign_ins_and_key(settings, anon_client):
    settings.DEBUG = True
    out = StringIO()

    call_command("seed_demo", stdout=out)

    text = out.getvalue()
    password = text.split("password ")[1].split()[0]
    key = text.split("API key:")[1].split()[0]
    users = get_user_model().objects
    assert users.get(username="demo-moderator").has_perm(roles.MODERATE)
    assert not users.get(username="demo-moderator").has_perm(roles.ADMINISTER)
    assert users.get(username="demo-room-admin").has_perm(roles.ADMINISTER)
    signed_in = ConsoleClient().submit(
        reverse("moderation:login"),
        {"username": "demo-moderator", "password": password},
        page=reverse("moderation:login"),
    )
    assert signed_in.status_code == 302  # through the sign-in form, as a person would
    room = Chatroom.objects.get(label="Demo room")
    assert ChatMessage.objects.filter(room=room).count() >= 3
    response = anon_client.post(
        "/bv/chatroom/v1/chatrooms", {}, format="json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code == 200
    assert f"Bearer {key}" in text  # the printed curl line


def test_seed_demo_twice_keeps_one_room_and_resets_passwords(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()

    call_command("seed_demo", stdout=out)

    assert Chatroom.objects.filter(label="Demo room").count() == 1
    password = out.getvalue().split("password ")[1].split()[0]
    assert get_user_model().objects.get(username="demo-admin").check_password(password)


def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="development only"):
        call_command("seed_demo", stdout=StringIO())
