"""The user card in the console (a page, and the room page's dialog fragment), the purge
it offers, block durations, the audit log's "acted on" filter, and what a second
moderator is told when someone else acted first."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from chatrooms import services
from chatrooms.auth import Actor
from chatrooms.models import (
    AuditAction,
    AuditLogEntry,
    AuditSource,
    BlockedUser,
    ChatMessage,
    PinnedMessage,
)
from moderation.templatetags.console import ago
from tests import factories
from tests.moderation.conftest import client_for, staff_in

pytestmark = pytest.mark.django_db

SPAMMER = "viewer-ben"
DIALOG = {"HX-Request": "true", "HX-Target": "card-body"}


def url(name, room, **kwargs):
    return reverse(f"moderation:{name}", kwargs={"room_id": room.pk, **kwargs})


def card_url(room, user_id=SPAMMER):
    return url("user_card", room, user_id=user_id)


def flashes(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def said(room, text="BUY FOLLOWERS", *, minutes_ago: float = 0, user_id=SPAMMER):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return factories.ChatMessageFactory(
        room=room,
        user_id=user_id,
        user_device_id="ben-phone",
        user_custom_name="Ben",
        text=text,
        received_at=at,
        sent_at=at,
    )


@pytest.fixture
def page(room):
    return url("room", room)


@pytest.fixture
def ana(roles):
    """The other moderator, who acts first."""
    return Actor.staff(staff_in(roles["Moderator"], username="ana"))


# --- The card ----------------------------------------------------------------------------


def test_the_card_is_a_page_of_its_own(moderator_client, room, system_actor):
    said(room, "hello there")
    services.user_block(
        actor=system_actor, room=room, user_id=SPAMMER, custom_name="Ben", reason="spam"
    )

    response = moderator_client.get(card_url(room))

    assert response.status_code == 200
    assert "moderation/user_card.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert "hello there" in html
    assert "ben-phone" in html
    assert "spam" in html
    assert "Unblock" in html
    assert f"{reverse('moderation:audit')}?target={SPAMMER}" in html
    # Its forms come back to the card.
    assert f'name="next" value="{card_url(room)}"' in html


def test_in_the_room_page_the_card_is_a_fragment_leading_back_to_the_room(
    moderator_client, room, page
):
    said(room)

    response = moderator_client.get(
        card_url(room), headers={**DIALOG, "HX-Current-URL": f"http://testserver{page}"}
    )

    assert next(t.name for t in response.templates) == "moderation/partials/user_card.html"
    html = response.content.decode()
    assert "<html" not in html
    assert 'method="dialog"' in html
    assert f'name="next" value="{page}"' in html


def test_the_card_offers_every_block_duration(moderator_client, room):
    html = moderator_client.get(card_url(room)).content.decode()

    for label in ("10 seconds", "1 minute", "10 minutes", "1 hour", "24 hours", "Until unblocked"):
        assert f">{label}</option>" in html


def test_a_user_id_with_slashes_and_spaces_has_a_card(moderator_client, room):
    said(room, "odd id", user_id="auth0|team/ops lead")

    feed = moderator_client.get(url("room", room)).content.decode()
    response = moderator_client.get(card_url(room, "auth0|team/ops lead"))

    assert card_url(room, "auth0|team/ops lead") in feed.replace("&amp;", "&")
    assert "odd id" in response.content.decode()


def test_users_link_to_their_card_from_the_feed_blocks_pins_and_audit(
    moderator_client, room, system_actor
):
    message = said(room)
    services.user_block(actor=system_actor, room=room, user_id=SPAMMER, custom_name="Ben")
    services.message_pin(
        actor=system_actor,
        room=room,
        message=services.MessageSnapshot(id=str(message.pk), text="x", sender_id=SPAMMER),
    )
    link = f'href="{card_url(room)}" hx-get="{card_url(room)}" hx-target="#card-body"'

    room_html = moderator_client.get(url("room", room)).content.decode()
    audit_html = moderator_client.get(reverse("moderation:audit")).content.decode()

    assert room_html.count(link) == 3  # the feed, the blocked list, the pins
    assert link in audit_html


def test_the_card_runs_a_fixed_number_of_queries(
    moderator_client, room, system_actor, django_assert_num_queries
):
    other = factories.ChatroomFactory()

    def fill(count):
        for _ in range(count):
            said(room)
            said(other)
            services.audit_record(
                actor=system_actor,
                action=AuditAction.USER_BLOCK,
                room=other,
                target_type="user",
                target_id=SPAMMER,
            )
            factories.BlockedUserFactory(room=other, user_id=SPAMMER, unblocked_at=timezone.now())

    # 1-4 session, user, permissions x2; 5 the room; 6-11 the card (its selector's six).
    fill(1)
    with django_assert_num_queries(11):
        moderator_client.get(card_url(room))
    fill(40)
    with django_assert_num_queries(11):
        moderator_client.get(card_url(room))


# --- Block from the card -------------------------------------------------------------------


def test_block_from_the_card_for_ten_seconds(moderator_client, room):
    said(room)

    response = moderator_client.submit(
        url("user_block", room),
        {
            "user_id": SPAMMER,
            "device_id": "ben-phone",
            "custom_name": "Ben",
            "duration": "10",
            "reason": "cool off",
            "next": card_url(room),
        },
        page=card_url(room),
    )

    block = BlockedUser.objects.active().get(room=room)
    assert (block.user_id, block.device_id, block.reason) == (SPAMMER, "ben-phone", "cool off")
    assert timedelta(seconds=8) < block.expires_at - timezone.now() <= timedelta(seconds=10)
    assert response["Location"] == card_url(room)
    assert flashes(response) == [
        ("success", "Blocked Ben for 10 seconds. They can no longer post or vote.")
    ]


# --- Purge ----------------------------------------------------------------------------------


def test_purge_asks_for_confirmation_first(moderator_client, room, page):
    said(room)

    response = moderator_client.submit(
        url("user_purge", room),
        {"user_id": SPAMMER, "custom_name": "Ben", "minutes": "5", "next": page},
        page=page,
    )

    assert response.status_code == 200
    assert "moderation/confirm.html" in [t.name for t in response.templates]
    assert response.context["question"] == (
        "Delete every message Ben sent in this room in the last 5 minutes?"
    )
    assert response.context["fields"]["minutes"] == 5
    assert not ChatMessage.objects.filter(deleted_at__isnull=False).exists()


def test_purge_once_confirmed(moderator_client, moderator, room, page):
    recent = [said(room, minutes_ago=m) for m in (0, 1, 2)]
    old = said(room, minutes_ago=20)
    factories.PinnedMessageFactory(room=room, message_id=str(recent[0].pk))

    response = moderator_client.submit(
        url("user_purge", room),
        {
            "user_id": SPAMMER,
            "custom_name": "Ben",
            "minutes": "5",
            "confirm": "1",
            "reason": "spam",
        },
        page=page,
    )

    assert response.status_code == 302
    assert ChatMessage.objects.filter(deleted_at__isnull=False).count() == 3
    old.refresh_from_db()
    assert old.deleted_at is None
    assert not PinnedMessage.objects.exists()
    entry = AuditLogEntry.objects.get(action=AuditAction.MESSAGES_PURGE)
    assert (entry.actor_user, entry.source, entry.reason) == (
        moderator,
        AuditSource.CONSOLE,
        "spam",
    )
    assert entry.after["deleted"] == 3
    assert flashes(response) == [
        (
            "success",
            "Deleted 3 messages from Ben (the last 5 minutes). Unpinned 1. "
            "Viewers no longer see them.",
        )
    ]


def test_purge_says_when_older_ones_remain(moderator_client, room, page, monkeypatch):
    monkeypatch.setattr(services, "PURGE_MAX_MESSAGES", 2)
    for _ in range(3):
        said(room)

    response = moderator_client.submit(
        url("user_purge", room),
        {"user_id": SPAMMER, "minutes": "5", "confirm": "1"},
        page=page,
    )

    assert "purge again" in flashes(response)[0][1]


def test_purging_after_another_moderator_says_who_was_first(moderator_client, room, page, ana):
    said(room)
    services.messages_purge(actor=ana, room=room, user_id=SPAMMER, minutes=5)

    response = moderator_client.submit(
        url("user_purge", room),
        {"user_id": SPAMMER, "custom_name": "Ben", "minutes": "5", "confirm": "1"},
        page=page,
    )

    [(level, text)] = flashes(response)
    assert level == "info"
    assert re.fullmatch(
        r"Nothing left to delete: Ben's messages were purged by ana \d+ s ago\.", text
    )


def test_a_bad_purge_window_is_a_message(moderator_client, room, page):
    response = moderator_client.submit(
        url("user_purge", room), {"user_id": SPAMMER, "minutes": "7", "confirm": "1"}, page=page
    )

    assert response.status_code == 302
    assert flashes(response)[0][0] == "error"


def test_the_purge_form_needs_the_csrf_token(moderator_client, room):
    said(room)

    response = moderator_client.post(
        url("user_purge", room), {"user_id": SPAMMER, "minutes": "5", "confirm": "1"}
    )

    assert response.status_code == 403
    assert not ChatMessage.objects.filter(deleted_at__isnull=False).exists()


def test_room_admins_purge_too(room_admin_client, room, page):
    said(room)

    room_admin_client.submit(
        url("user_purge", room), {"user_id": SPAMMER, "minutes": "5", "confirm": "1"}, page=page
    )

    assert ChatMessage.objects.get().deleted_at is not None


def test_staff_without_a_role_cannot_open_a_card_or_purge(staff_without_role, room):
    said(room)
    client = client_for(staff_without_role, csrf=False)

    assert client.get(card_url(room)).status_code == 403
    response = client.post(
        url("user_purge", room), {"user_id": SPAMMER, "minutes": "5", "confirm": "1"}
    )
    assert response.status_code == 403
    assert not ChatMessage.objects.filter(deleted_at__isnull=False).exists()


# --- The audit log's "acted on" filter ----------------------------------------------------------


def test_the_audit_log_filters_by_the_user_acted_on(moderator_client, room, system_actor):
    services.user_block(actor=system_actor, room=room, user_id=SPAMMER)
    services.user_block(actor=system_actor, room=room, user_id="viewer-ana")

    response = moderator_client.get(reverse("moderation:audit"), {"target": SPAMMER})

    assert [e.target_id for e in response.context["entries"]] == [SPAMMER]
    assert response.context["filtered"]


# --- Someone acted first ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(3, "3 s ago"), (59, "59 s ago"), (60, "1 min ago"), (3599, "59 min ago"), (7200, "2 h ago")],
)
def test_ago(seconds, text):
    now = timezone.now()

    assert ago(now - timedelta(seconds=seconds), now) == text


def test_ago_a_day_later_gives_the_date():
    now = timezone.now()

    assert ago(now - timedelta(days=2), now).startswith("on 20")


def test_deleting_a_deleted_message_says_who_deleted_it(moderator_client, room, page, ana):
    message = said(room)
    services.message_delete(actor=ana, room=room, message_id=message.pk)
    ChatMessage.objects.filter(pk=message.pk).update(
        deleted_at=timezone.now() - timedelta(seconds=3)
    )

    response = moderator_client.submit(
        url("message_delete", room), {"message_id": message.pk}, page=page
    )

    # No confirmation page for a message that is already gone: the answer at once.
    assert response.status_code == 302
    assert flashes(response) == [("info", "Already deleted by ana 3 s ago.")]
    assert AuditLogEntry.objects.filter(action=AuditAction.MESSAGE_DELETE).count() == 1


def test_a_delete_that_loses_the_race_says_who_won(moderator_client, room, page, ana, monkeypatch):
    message = said(room)
    real_delete = services.message_delete

    def ana_first(**kwargs):
        real_delete(actor=ana, room=room, message_id=message.pk)  # lands just before ours
        return real_delete(**kwargs)

    monkeypatch.setattr(services, "message_delete", ana_first)

    response = moderator_client.submit(
        url("message_delete", room), {"message_id": message.pk, "confirm": "1"}, page=page
    )

    [(level, text)] = flashes(response)
    assert level == "info"
    assert re.fullmatch(r"Already deleted by ana \d+ s ago\.", text)


def test_unpinning_an_unpinned_message_says_who_unpinned_it(moderator_client, room, page, ana):
    message = said(room)
    snapshot = services.MessageSnapshot(id=str(message.pk), text=message.text, sender_id=SPAMMER)
    services.message_pin(actor=ana, room=room, message=snapshot)
    services.message_unpin(actor=ana, room=room, message_id=str(message.pk))

    response = moderator_client.submit(
        url("message_unpin", room), {"message_id": message.pk}, page=page
    )

    [(level, text)] = flashes(response)
    assert level == "info"
    assert re.fullmatch(r"Already unpinned by ana \d+ s ago\.", text)


def test_unpinning_a_purged_message_says_it_was_deleted(moderator_client, room, page, ana):
    message = said(room)
    factories.PinnedMessageFactory(room=room, message_id=str(message.pk))
    services.messages_purge(actor=ana, room=room, user_id=SPAMMER, minutes=5)

    response = moderator_client.submit(
        url("message_unpin", room), {"message_id": message.pk}, page=page
    )

    [(level, text)] = flashes(response)
    assert (level, text.split(" by ")[0]) == ("info", "Already unpinned: the message was deleted")


def test_unpinning_something_never_pinned_is_still_an_error(moderator_client, room, page):
    response = moderator_client.submit(url("message_unpin", room), {"message_id": "m-9"}, page=page)

    assert flashes(response)[0][0] == "error"


def test_blocking_a_blocked_user_says_who_blocked_them(moderator_client, room, page, ana):
    message = said(room)
    services.user_block(actor=ana, room=room, user_id=SPAMMER, custom_name="Ben")
    BlockedUser.objects.filter(user_id=SPAMMER).update(
        blocked_at=timezone.now() - timedelta(seconds=3)
    )

    response = moderator_client.submit(
        url("user_block", room), {"message_id": message.pk}, page=page
    )

    assert flashes(response) == [("info", "Ben was already blocked by ana 3 s ago.")]


def test_unblocking_an_unblocked_user_says_who_unblocked_them(moderator_client, room, page, ana):
    services.user_block(actor=ana, room=room, user_id=SPAMMER, custom_name="Ben")
    services.user_unblock(actor=ana, room=room, user_id=SPAMMER)

    response = moderator_client.submit(url("user_unblock", room), {"user_id": SPAMMER}, page=page)

    [(level, text)] = flashes(response)
    assert level == "info"
    assert re.fullmatch(r"Ben was already unblocked by ana \d+ s ago\.", text)


def test_unblocking_a_user_whose_block_ran_out_says_so(moderator_client, room, page, ana):
    services.user_block(
        actor=ana,
        room=room,
        user_id=SPAMMER,
        custom_name="Ben",
        expires_at=timezone.now() + timedelta(seconds=10),
    )
    BlockedUser.objects.filter(user_id=SPAMMER).update(
        expires_at=timezone.now() - timedelta(seconds=3)
    )

    response = moderator_client.submit(url("user_unblock", room), {"user_id": SPAMMER}, page=page)

    assert flashes(response) == [("info", "Ben is not blocked: their block ran out 3 s ago.")]


def test_the_notice_is_shown_as_a_notice_not_an_error(moderator_client, room, page, ana):
    message = said(room)
    services.message_delete(actor=ana, room=room, message_id=message.pk)

    response = moderator_client.submit(
        url("message_delete", room), {"message_id": message.pk}, page=page, follow=True
    )

    assert response.status_code == 200
    assert 'class="flash-item flash-info">Already deleted by ana' in response.content.decode()
