"""Lockdown in the console (issue 14): a moderator turns it on with one click, the room
page shows who turned it on and what it does, one click turns it off; room admins
edit the bundle. Every form goes through the CSRF-enforcing client."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from chatrooms import services
from chatrooms.auth import Actor
from chatrooms.models import AuditAction, AuditLogEntry, AuditSource, Chatroom, RoomLockdown
from tests import factories

pytestmark = pytest.mark.django_db


def url(name, room):
    return reverse(f"moderation:{name}", kwargs={"room_id": room.pk})


def flashes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def page(room):
    return url("room", room)


def test_a_moderator_turns_lockdown_on_and_sees_the_banner(moderator_client, moderator, room, page):
    services.chatroom_lockdown_configure(
        actor=Actor.system("tests"),
        room=room,
        slow_mode_seconds=30,
        mute_viewers=True,
        hold_new_users_minutes=10,
    )
    assert b"Lockdown</button>" in moderator_client.get(page).content

    response = moderator_client.submit(
        url("room_lockdown", room), {"on": "1"}, page=page, follow=True
    )

    assert "Lockdown is on: slow mode 30 s, viewers muted, new users held 10 min." in flashes(
        response
    )
    entry = AuditLogEntry.objects.get(action=AuditAction.LOCKDOWN_ON, room=room)
    assert entry.actor_user == moderator and entry.source == AuditSource.CONSOLE
    html = response.content.decode()
    assert "Lockdown on</strong> since" in html
    assert "by mia-moderator — slow mode 30 s, viewers muted, new users held 10 min." in html
    assert "Turn off lockdown" in html
    assert "Lockdown</button>" not in html  # the "on" button gives way to "Turn off"


def test_a_moderator_turns_lockdown_off_and_the_room_is_as_before(
    moderator_client, room, page, system_actor
):
    services.chatroom_set_slow_mode(actor=system_actor, room=room, seconds=5)
    services.chatroom_lockdown_start(actor=system_actor, room=room)

    response = moderator_client.submit(
        url("room_lockdown", room), {"on": "0"}, page=page, follow=True
    )

    assert "Lockdown is off: the room's settings from before are back." in flashes(response)
    room = Chatroom.objects.get(pk=room.pk)
    assert (room.slow_mode_seconds, room.muted, room.new_user_hold_minutes) == (5, False, 0)
    assert "Lockdown on" not in response.content.decode()


def test_a_second_click_says_who_turned_it_on_first(moderator_client, room, page):
    ana = Actor.staff(factories.StaffUserFactory(username="ana"))
    services.chatroom_lockdown_start(actor=ana, room=room)

    response = moderator_client.submit(
        url("room_lockdown", room), {"on": "1"}, page=page, follow=True
    )

    [flash] = flashes(response)
    assert flash.startswith("Lockdown is already on: by ana ")
    assert AuditLogEntry.objects.filter(action=AuditAction.LOCKDOWN_ON).count() == 1


def test_lockdown_without_the_csrf_token_is_refused(moderator_client, room):
    response = moderator_client.post(url("room_lockdown", room), {"on": "1"})

    assert response.status_code == 403
    assert not RoomLockdown.objects.exists()


def test_room_admins_edit_the_bundle(room_admin_client, room_admin, room, page):
    response = room_admin_client.submit(
        url("room_lockdown_settings", room),
        {"slow_mode_seconds": "90", "mute_viewers": "1", "hold_new_users_minutes": "20"},
        page=page,
        follow=True,
    )

    lockdown = RoomLockdown.objects.get(room=room)
    assert (lockdown.slow_mode_seconds, lockdown.mute_viewers, lockdown.hold_new_users_minutes) == (
        90,
        True,
        20,
    )
    assert not lockdown.active
    entry = AuditLogEntry.objects.get(action=AuditAction.LOCKDOWN_BUNDLE)
    assert entry.actor_user == room_admin
    assert any(text.startswith("Saved the lockdown settings") for text in flashes(response))
    assert 'name="hold_new_users_minutes" value="20"' in response.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"slow_mode_seconds": "3601", "hold_new_users_minutes": "10"},
        {"slow_mode_seconds": "30", "hold_new_users_minutes": "-1"},
        {"slow_mode_seconds": "30", "hold_new_users_minutes": "1441"},
        {"slow_mode_seconds": "", "hold_new_users_minutes": "10"},
    ],
)
def test_a_bundle_out_of_range_is_refused(room_admin_client, room, page, data):
    room_admin_client.submit(url("room_lockdown_settings", room), data, page=page, follow=True)

    assert not RoomLockdown.objects.exists()


def test_moderators_do_not_see_the_bundle_form(moderator_client, room, page):
    assert b"lockdown-settings" not in moderator_client.get(page).content


def test_the_audit_log_lists_lockdown_on_and_off(moderator_client, room, page):
    moderator_client.submit(url("room_lockdown", room), {"on": "1"}, page=page)
    moderator_client.submit(url("room_lockdown", room), {"on": "0"}, page=page)

    html = moderator_client.get(reverse("moderation:audit") + f"?room={room.pk}").content.decode()

    assert "Lockdown turned on" in html and "Lockdown turned off" in html
