"""Hostile text in every field a client or staff can fill is shown escaped, never run."""

from urllib.parse import quote

import pytest
from django.urls import reverse

from chatrooms import services
from chatrooms.auth import Actor
from chatrooms.models import ActorKind, AuditSource, InteractionType, PollType

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>\'; DROP TABLE x; --'
RAW_MARKERS = ("<script>alert", "<img src=x onerror")

pytestmark = pytest.mark.django_db


@pytest.fixture
def hostile_room(system_actor):
    room = services.chatroom_create(actor=system_actor, label=HOSTILE, custom_counter_keys=["like"])
    viewer = Actor(
        kind=ActorKind.CHATROOM_TOKEN,
        source=AuditSource.API,
        id=HOSTILE,
        name=HOSTILE,
        device_id=HOSTILE,
    )
    message = services.message_send(
        actor=viewer, room=room, type=InteractionType.TEXT, text=HOSTILE, sent_at=room.created_at
    )
    services.message_pin(
        actor=viewer.with_name(HOSTILE),
        room=room,
        message=services.MessageSnapshot(
            id=str(message.pk), text=HOSTILE, sender_custom_name=HOSTILE
        ),
    )
    services.user_block(
        actor=system_actor, room=room, user_id=HOSTILE, custom_name=HOSTILE, reason=HOSTILE
    )
    services.poll_create(
        actor=system_actor,
        room=room,
        type=PollType.SINGLE_CHOICE,
        question=HOSTILE,
        options=[services.OptionInput(text=HOSTILE), services.OptionInput(text="b")],
    )
    return room


def pages(room):
    return [
        reverse("moderation:rooms"),
        reverse("moderation:rooms") + "?q=script",
        reverse("moderation:room", args=[room.pk]),
        reverse("moderation:audit"),
        reverse("moderation:audit") + "?target=" + quote(HOSTILE),
        # The user card, as its own page and as the room page's dialog fragment.
        reverse("moderation:user_card", args=[room.pk, HOSTILE]),
        "/admin/chatrooms/chatroom/",
        f"/admin/chatrooms/chatroom/{room.pk}/change/",
        "/admin/chatrooms/chatmessage/",
        "/admin/chatrooms/blockeduser/",
        "/admin/chatrooms/pinnedmessage/",
        "/admin/chatrooms/poll/",
        "/admin/chatrooms/auditlogentry/",
    ]


def test_console_and_admin_escape_hostile_text(admin_client, hostile_room):
    for path in pages(hostile_room):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        for marker in RAW_MARKERS:
            assert marker not in html, (path, marker)
        assert "&lt;script&gt;alert(" in html or "&lt;script&gt;" in html, path


def test_the_user_card_fragment_escapes_hostile_text(admin_client, hostile_room):
    services.messages_purge(
        actor=Actor.system(), room=hostile_room, user_id=HOSTILE, minutes=5, reason=HOSTILE
    )
    response = admin_client.get(
        reverse("moderation:user_card", args=[hostile_room.pk, HOSTILE]),
        headers={"HX-Request": "true", "HX-Target": "card-body"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    for marker in RAW_MARKERS:
        assert marker not in html
    assert html.count("&lt;script&gt;alert(") >= 4  # name, message, block reason, audit reason
