"""Look and fit (issue 14): how the console names rooms without a label, and how it
shows times in lists."""

import pytest
from django.urls import reverse

from chatrooms import services
from tests import factories

pytestmark = pytest.mark.django_db


def short_id_markup(room) -> str:
    return f'<code class="room-short" title="{room.pk}">{str(room.pk)[:8]}</code>'


def test_an_api_room_created_with_a_name_is_listed_by_that_name(moderator_client, system_actor):
    room = services.chatroom_create(actor=system_actor, label="Launch stream")

    page = moderator_client.get(reverse("moderation:rooms")).content.decode()

    assert "Launch stream" in page
    assert "(no label)" not in page
    assert short_id_markup(room) not in page


def test_a_room_without_a_label_is_named_by_its_short_id_everywhere(moderator_client, system_actor):
    room = services.chatroom_create(actor=system_actor)
    message = factories.ChatMessageFactory(room=room)
    pages = {
        "rooms": reverse("moderation:rooms"),
        "room": reverse("moderation:room", args=[room.pk]),
        "audit": reverse("moderation:audit"),
        "user card": reverse("moderation:user_card", args=[room.pk, message.user_id]),
    }
    for name, url in pages.items():
        page = moderator_client.get(url).content.decode()
        assert "(no label)" not in page, name
        assert short_id_markup(room) in page, name


def test_the_room_page_offers_to_copy_the_full_id(moderator_client, system_actor):
    room = services.chatroom_create(actor=system_actor)

    page = moderator_client.get(reverse("moderation:room", args=[room.pk])).content.decode()

    assert f'<code class="uid" id="room-id" title="Room id">{room.pk}</code>' in page
    assert 'data-copy="room-id"' in page
