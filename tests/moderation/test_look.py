"""Look and fit (issue 14): how the console names rooms without a label, and how it
shows times in lists."""

import pytest
from django.urls import reverse
from django.utils import timezone

from chatrooms import services
from chatrooms.models import Chatroom, PollStatus
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


def test_times_in_lists_show_the_time_today_and_day_and_time_before(moderator_client):
    now = timezone.localtime().replace(second=0, microsecond=0)
    earlier = now.replace(month=1 if now.month > 1 else 2, day=3, hour=9, minute=5)
    today = factories.ChatroomFactory(label="Today")
    older = factories.ChatroomFactory(label="Older")
    last_year = factories.ChatroomFactory(label="Last year")
    Chatroom.objects.filter(pk=today.pk).update(created_at=now.replace(hour=0, minute=1))
    Chatroom.objects.filter(pk=older.pk).update(created_at=earlier)
    Chatroom.objects.filter(pk=last_year.pk).update(created_at=earlier.replace(year=now.year - 1))

    page = moderator_client.get(reverse("moderation:rooms")).content.decode()

    stamp = now.replace(hour=0, minute=1).isoformat(timespec="seconds")
    assert f'<time datetime="{stamp}" title="{now:%-d %b %Y} 00:01:00 UTC">00:01</time>' in page
    assert f">3 {earlier:%b} 09:05</time>" in page
    assert f">3 {earlier:%b} {now.year - 1}</time>" in page


@pytest.mark.parametrize("page", ["rooms", "room", "audit", "user_card"])
def test_each_page_states_its_time_zone_once(superuser_client, system_actor, settings, page):
    room = services.chatroom_create(actor=system_actor)
    message = factories.ChatMessageFactory(room=room)
    args = {"room": [room.pk], "user_card": [room.pk, message.user_id]}.get(page, [])

    html = superuser_client.get(reverse(f"moderation:{page}", args=args)).content.decode()

    assert html.count("Times in UTC.") == 1
    assert settings.TIME_ZONE == "UTC"


def test_the_live_poll_is_shown_once_with_its_buttons(moderator_client):
    room = factories.ChatroomFactory(label="Keynote")
    live = factories.PollFactory(room=room, status=PollStatus.ACTIVE, question="Best talk?")
    queued = factories.PollFactory(room=room, status=PollStatus.QUEUED, question="Next talk?")

    page = moderator_client.get(reverse("moderation:room", args=[room.pk])).content.decode()

    assert page.count("Best talk?</") == 1  # the live card's question, not a list row too
    assert f'id="poll-{live.pk}"' not in page
    assert f'id="poll-{queued.pk}"' in page
    close = reverse("moderation:poll_change", args=[room.pk, live.pk])
    assert page.count(f'action="{close}"') == 1
    assert 'value="ACTION_CLOSE"' in page
