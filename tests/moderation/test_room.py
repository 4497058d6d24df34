"""The live room: what the page shows, each action's effect and audit row, the
fragments that refresh on their own, and a fixed number of queries."""

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
    Chatroom,
    ChatStatus,
    CustomCounter,
    PinnedMessage,
    PollStatus,
    Report,
    ReportStatus,
    ReportType,
    counter_key_validator,
)
from moderation.views.room import BLOCKED_LIST_SIZE, FEED_PAGE_SIZE
from tests import factories
from tests.conftest import roll_up

pytestmark = pytest.mark.django_db


def url(name, room, **kwargs):
    return reverse(f"moderation:{name}", kwargs={"room_id": room.pk, **kwargs})


def flashes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def audit_row(action, room) -> AuditLogEntry:
    return AuditLogEntry.objects.get(action=action, room=room)


def rolled_up_recently(room):
    """Counts rolled up just now with a long window, so reads take the plain read path.
    (The roll-up's own queries are counted in tests/chatrooms/test_query_counts.py.)"""
    Chatroom.objects.filter(pk=room.pk).update(
        counts_rolled_up_at=timezone.now(), batch_window=timedelta(hours=1)
    )


def assert_console_audit(entry, user):
    assert entry.actor_user == user
    assert entry.actor_name == user.get_username()
    assert entry.source == AuditSource.CONSOLE


@pytest.fixture
def message(room):
    return factories.ChatMessageFactory(
        room=room,
        user_id="viewer-ben",
        user_device_id="ben-phone",
        user_custom_name="Ben",
        text="BUY FOLLOWERS",
    )


@pytest.fixture
def page(room):
    return url("room", room)


# --- The page ------------------------------------------------------------------------


def test_the_page_shows_the_feed_newest_first_with_badges(moderator_client, room):
    now = timezone.now()
    old = factories.ChatMessageFactory(room=room, text="first", received_at=now - timedelta(2))
    admin = factories.ChatMessageFactory(
        room=room, text="from the host", user_is_admin=True, received_at=now - timedelta(1)
    )
    deleted = factories.ChatMessageFactory(
        room=room, text="rude", deleted_at=now, deleted_by_custom_name="mia", received_at=now
    )
    blocked = factories.BlockedUserFactory(room=room, user_id=old.user_id)
    factories.PinnedMessageFactory(room=room, message_id=str(admin.pk))

    response = moderator_client.get(url("room", room))

    feed = response.context["feed"]
    assert [m.pk for m in feed] == [deleted.pk, admin.pk, old.pk]
    assert [m.sender_blocked for m in feed] == [False, False, True]
    assert [m.is_pinned for m in feed] == [False, True, False]
    html = response.content.decode()
    assert "<del>rude</del>" in html
    assert "badge-admin" in html
    assert blocked.custom_name in html


def test_the_page_shows_the_name_and_description_an_api_client_gave(
    moderator_client, api_key_client
):
    """BlendVision's own client creates rooms with a name and a description (issue 12)."""
    body = {"name": "Launch", "description": "Product launch Q&A\nHall <B>"}
    created = api_key_client.post("/bv/chatroom/v1/chatrooms", body, format="json")
    room = Chatroom.objects.get(pk=created.json()["chatroom"]["id"])

    html = moderator_client.get(url("room", room)).content.decode()

    assert "<h1>Launch</h1>" in html
    assert '<p class="room-description">Product launch Q&amp;A<br>Hall &lt;B&gt;</p>' in html


def test_a_room_without_a_description_shows_none(moderator_client, room):
    assert "room-description" not in moderator_client.get(url("room", room)).content.decode()


def test_a_blocked_device_marks_the_sender_blocked(moderator_client, room, message):
    factories.BlockedUserFactory(room=room, user_id="other-id", device_id=message.user_device_id)

    [shown] = moderator_client.get(url("room", room)).context["feed"]

    assert shown.sender_blocked


def test_the_feed_pages_back_through_history(moderator_client, room):
    now = timezone.now()
    messages = [
        factories.ChatMessageFactory(room=room, received_at=now - timedelta(seconds=i))
        for i in range(FEED_PAGE_SIZE + 5)
    ]
    # Two messages received at the same instant straddle the page boundary.
    messages[FEED_PAGE_SIZE].received_at = messages[FEED_PAGE_SIZE - 1].received_at
    ChatMessage.objects.filter(pk=messages[FEED_PAGE_SIZE].pk).update(
        received_at=messages[FEED_PAGE_SIZE - 1].received_at
    )

    first = moderator_client.get(url("room", room))
    older = moderator_client.get(url("room", room), {"before": first.context["older_cursor"]})

    seen = [m.pk for m in first.context["feed"]] + [m.pk for m in older.context["feed"]]
    assert len(first.context["feed"]) == FEED_PAGE_SIZE
    assert sorted(seen) == sorted(m.pk for m in messages)
    assert older.context["older_cursor"] == ""
    assert b"Back to newest" in older.content
    assert b'hx-get="' + url("room_feed", room).encode() not in older.content


def test_the_blocked_list_searches_names_and_ids(moderator_client, room):
    factories.BlockedUserFactory(room=room, custom_name="Spammer Sam", user_id="u-1")
    factories.BlockedUserFactory(room=room, custom_name="Troll", user_id="sam-2")
    factories.BlockedUserFactory(room=room, custom_name="Other", user_id="u-3")

    response = moderator_client.get(url("room", room), {"blocked": "sam"})

    assert sorted(b.user_id for b in response.context["blocked"]) == ["sam-2", "u-1"]


def test_the_blocked_list_is_bounded(moderator_client, room):
    factories.BlockedUserFactory.create_batch(BLOCKED_LIST_SIZE + 1, room=room)

    response = moderator_client.get(url("room", room))

    assert len(response.context["blocked"]) == BLOCKED_LIST_SIZE
    assert response.context["more_blocked"]


def test_moderators_do_not_see_room_admin_controls(moderator_client, room_admin_client, room):
    settings_url = url("room_counters", room).encode()

    assert settings_url not in moderator_client.get(url("room", room)).content
    assert settings_url in room_admin_client.get(url("room", room)).content


def test_an_inactive_room_says_so(moderator_client, room):
    room.status = ChatStatus.INACTIVE
    room.save()

    assert b"This room is inactive" in moderator_client.get(url("room", room)).content


def test_the_room_page_runs_a_fixed_number_of_queries(
    moderator_client, moderator, roles, room, system_actor, django_assert_num_queries
):
    # 1 session, 2 user, 3 user permissions, 4 group permissions, 5 the room (and
    # whether this moderator may see it), 6 pinned messages, 7 polls, 8 their options,
    # 9 the feed, 10 blocks of the feed's senders, 11 the blocked list, 12 counters,
    # 13 reports, 14 the lockdown, 15 the room's moderators, 16 the room's enabled
    # dictionaries, 17 every dictionary with its pattern count, 18 the word filter's
    # held count.
    queries = 18
    services.room_moderator_add(actor=system_actor, room=room, user=moderator)

    def fill(count):
        for _ in range(count):
            other = factories.StaffUserFactory()
            other.groups.add(roles["Moderator"])
            services.room_moderator_add(actor=system_actor, room=room, user=other)
            sender = factories.ChatMessageFactory(room=room)
            factories.BlockedUserFactory(room=room, user_id=sender.user_id)
            factories.PinnedMessageFactory(room=room, message_id=str(sender.pk))
            factories.PollFactory(room=room, options=["a", "b", "c"])
            Report.objects.create(
                room=room, type=ReportType.POLL_VOTES, status=ReportStatus.SUCCEEDED, file="x.csv"
            )
            factories.CustomCounterFactory(room=room)

    fill(1)
    rolled_up_recently(room)
    with django_assert_num_queries(queries):
        moderator_client.get(url("room", room))
    fill(199)
    rolled_up_recently(room)
    with django_assert_num_queries(queries):
        response = moderator_client.get(url("room", room))
    assert len(response.context["feed"]) == FEED_PAGE_SIZE
    assert len(response.context["polls"]) == 200


@pytest.mark.parametrize(
    ("fragment", "queries"),
    [
        # 1-4 session, user, permissions x2; 5 the room; 6 the feed; 7 pinned ids;
        # 8 blocks of the feed's senders.
        ("room_feed", 8),
        # 1-4 as above; 5 the room; 6 counters.
        ("room_stats", 6),
        # 1-4 as above; 5 the room; 6 the active poll; 7 its options.
        ("room_poll_results", 7),
    ],
)
def test_live_fragments_run_a_fixed_number_of_queries(
    moderator_client, room, django_assert_num_queries, fragment, queries
):
    poll = factories.PollFactory(room=room, status=PollStatus.ACTIVE, options=["a"])

    def fill(count):
        for _ in range(count):
            message = factories.ChatMessageFactory(room=room)
            factories.PinnedMessageFactory(room=room, message_id=str(message.pk))
            factories.CustomCounterFactory(room=room)
            factories.PollOptionFactory(poll=poll)

    fill(1)
    rolled_up_recently(room)
    with django_assert_num_queries(queries):
        moderator_client.get(url(fragment, room))
    fill(199)
    rolled_up_recently(room)
    with django_assert_num_queries(queries):
        response = moderator_client.get(url(fragment, room))
    assert response.status_code == 200


def test_votes_and_taps_cast_through_the_api_show_up(moderator_client, room):
    poll = factories.PollFactory(room=room, status=PollStatus.ACTIVE, options=["Yes", "No"])
    yes = poll.options.get(text="Yes")
    for subject in ("v1", "v2"):
        voter = Actor(kind="chatroom_token", source=AuditSource.API, id=subject)
        services.poll_vote(actor=voter, poll=poll, option_ids=[yes.pk])
    services.counter_increment(room=room, key="like", value=5)
    roll_up(room)

    poll_html = moderator_client.get(url("room_poll_results", room)).content.decode()
    stats = moderator_client.get(url("room_stats", room))

    assert "2 · 100%" in poll_html
    assert {c.key: c.value for c in stats.context["counters"]}["like"] == 5


def test_feed_fragment_forms_lead_back_to_the_page_it_sits_in(moderator_client, room, message):
    page = url("room", room) + "?blocked=sam"

    response = moderator_client.get(
        url("room_feed", room),
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{page}"},
    )

    assert response.context["here"] == page


def test_feed_fragment_ignores_a_page_of_another_site(moderator_client, room, message):
    response = moderator_client.get(
        url("room_feed", room), headers={"HX-Current-URL": "https://evil.example/x"}
    )

    assert response.context["here"] == url("room", room)


def test_the_feed_fragment_is_just_the_feed(moderator_client, room, message):
    response = moderator_client.get(url("room_feed", room))

    assert b"<html" not in response.content
    assert message.text.encode() in response.content


def test_the_poll_fragment_shows_counts_and_percentages(moderator_client, room):
    poll = factories.PollFactory(room=room, status=PollStatus.ACTIVE, options=["Yes", "No"])
    yes, no = poll.options.all()
    poll.votes_count, yes.votes_count, no.votes_count = 4, 3, 1
    poll.save(), yes.save(), no.save()
    rolled_up_recently(room)  # keep these counts as they are

    html = moderator_client.get(url("room_poll_results", room)).content.decode()

    assert "3 · 75%" in html
    assert "1 · 25%" in html
    assert '<progress max="4" value="3"' in html


# --- Room state -------------------------------------------------------------------------


def test_mute_and_unmute(moderator_client, moderator, room, page):
    response = moderator_client.submit(url("room_mute", room), {"muted": "1"}, page=page)
    room.refresh_from_db()
    assert room.muted
    assert response["Location"] == page
    assert_console_audit(audit_row(AuditAction.ROOM_MUTE, room), moderator)

    moderator_client.submit(url("room_mute", room), {"muted": "0", "next": page}, page=page)
    room.refresh_from_db()
    assert not room.muted
    assert_console_audit(audit_row(AuditAction.ROOM_UNMUTE, room), moderator)


def test_an_action_goes_back_to_where_the_moderator_was(moderator_client, room, page):
    where = f"{page}?blocked=sam#blocked"

    response = moderator_client.submit(
        url("room_mute", room), {"muted": "1", "next": where}, page=page
    )

    assert response["Location"] == where


def test_next_cannot_leave_the_site(moderator_client, room, page):
    response = moderator_client.submit(
        url("room_mute", room), {"muted": "1", "next": "https://evil.example/"}, page=page
    )

    assert response["Location"] == page


def test_change_status(room_admin_client, room_admin, room, page):
    room_admin_client.submit(url("room_status", room), {"status": ChatStatus.INACTIVE}, page=page)

    room.refresh_from_db()
    assert room.status == ChatStatus.INACTIVE
    assert_console_audit(audit_row(AuditAction.ROOM_STATUS, room), room_admin)


def test_viewer_info_toggle(room_admin_client, room_admin, room, page):
    response = room_admin_client.submit(
        url("room_viewer_info", room), {"enabled": "1"}, page=page, follow=True
    )

    room.refresh_from_db()
    assert room.viewer_info_enabled
    assert_console_audit(audit_row(AuditAction.VIEWER_INFO_UPDATE, room), room_admin)
    assert "Viewers now see the viewer count." in flashes(response)


def test_configure_counters(room_admin_client, room_admin, room, page):
    room_admin_client.submit(url("room_counters", room), {"keys": "heart, fire"}, page=page)

    enabled = CustomCounter.objects.filter(room=room, disabled=False).order_by("position")
    assert [c.key for c in enabled] == ["heart", "fire"]
    assert CustomCounter.objects.get(room=room, key="like").disabled
    assert_console_audit(audit_row(AuditAction.COUNTERS_UPDATE, room), room_admin)


def test_rename(room_admin_client, room_admin, room, page):
    room_admin_client.submit(url("room_label", room), {"label": "Finals"}, page=page)

    room.refresh_from_db()
    assert room.label == "Finals"
    assert_console_audit(audit_row(AuditAction.ROOM_UPDATE, room), room_admin)


def test_a_refused_action_is_a_message_not_an_error(moderator_client, room, page):
    room.status = ChatStatus.INACTIVE
    room.save()

    response = moderator_client.submit(url("room_mute", room), {"muted": "1"}, page=page)

    assert response.status_code == 302
    room.refresh_from_db()
    assert not room.muted
    [text] = flashes(response)
    assert "inactive" in text


def test_an_invalid_counter_key_is_a_message(room_admin_client, room, page):
    response = room_admin_client.submit(url("room_counters", room), {"keys": "-bad"}, page=page)

    assert response.status_code == 302
    assert counter_key_validator.message in flashes(response)[0]


# --- Users --------------------------------------------------------------------------------


def test_block_the_sender_of_a_message(moderator_client, moderator, room, message, page):
    response = moderator_client.submit(
        url("user_block", room),
        {"message_id": message.pk, "reason": "spam", "next": f"{page}#m-{message.pk}"},
        page=page,
        follow=True,
    )

    block = BlockedUser.objects.active().get(room=room)
    assert (block.user_id, block.device_id, block.custom_name) == ("viewer-ben", "ben-phone", "Ben")
    assert block.reason == "spam"
    assert block.expires_at is None
    entry = audit_row(AuditAction.USER_BLOCK, room)
    assert_console_audit(entry, moderator)
    assert (entry.target_id, entry.reason) == ("viewer-ben", "spam")
    assert flashes(response) == ["Blocked Ben until unblocked. They can no longer post or vote."]
    assert response.context["blocked"][0].user_id == "viewer-ben"


def test_block_for_a_while(moderator_client, room, message, page):
    moderator_client.submit(
        url("user_block", room), {"message_id": message.pk, "duration": "600"}, page=page
    )

    block = BlockedUser.objects.get(room=room)
    assert timedelta(minutes=9) < block.expires_at - timezone.now() <= timedelta(minutes=10)


def test_block_a_user_by_id(moderator_client, room, page):
    moderator_client.submit(
        url("user_block", room), {"user_id": "u-42", "custom_name": "Zed"}, page=page
    )

    assert BlockedUser.objects.active().get(room=room).custom_name == "Zed"


def test_blocking_twice_says_so(moderator_client, room, message, page):
    data = {"message_id": message.pk}
    moderator_client.submit(url("user_block", room), data, page=page)

    response = moderator_client.submit(url("user_block", room), data, page=page)

    assert re.fullmatch(
        r"Ben was already blocked by mia-moderator \d+ s ago\.", flashes(response)[0]
    )
    assert AuditLogEntry.objects.filter(action=AuditAction.USER_BLOCK).count() == 1


def test_block_needs_someone_to_block(moderator_client, room, page):
    response = moderator_client.submit(url("user_block", room), {"reason": "x"}, page=page)

    assert response.status_code == 302
    assert not BlockedUser.objects.exists()
    assert flashes(response)


def test_block_a_message_of_another_room_is_refused(moderator_client, room, page):
    elsewhere = factories.ChatMessageFactory()

    response = moderator_client.submit(
        url("user_block", room), {"message_id": elsewhere.pk}, page=page
    )

    assert not BlockedUser.objects.exists()
    assert flashes(response) == ["That message is not in this room."]


def test_unblock(moderator_client, moderator, room, page):
    factories.BlockedUserFactory(room=room, user_id="u-1", custom_name="Ann")

    response = moderator_client.submit(
        url("user_unblock", room), {"user_id": "u-1", "reason": "appeal"}, page=page
    )

    assert not BlockedUser.objects.active().exists()
    entry = audit_row(AuditAction.USER_UNBLOCK, room)
    assert_console_audit(entry, moderator)
    assert entry.reason == "appeal"
    assert flashes(response) == ["Unblocked Ann."]


def test_unblock_someone_not_blocked_is_a_message(moderator_client, room, page):
    response = moderator_client.submit(url("user_unblock", room), {"user_id": "nobody"}, page=page)

    assert response.status_code == 302
    assert "not blocked" in flashes(response)[0]


# --- Messages ----------------------------------------------------------------------------


def test_pin_and_unpin(moderator_client, moderator, room, message, page):
    moderator_client.submit(url("message_pin", room), {"message_id": message.pk}, page=page)

    pin = PinnedMessage.objects.get(room=room)
    assert (pin.message_id, pin.message_text, pin.sender_custom_name) == (
        str(message.pk),
        message.text,
        "Ben",
    )
    assert_console_audit(audit_row(AuditAction.MESSAGE_PIN, room), moderator)

    response = moderator_client.submit(
        url("message_unpin", room), {"message_id": message.pk}, page=page
    )
    assert not PinnedMessage.objects.exists()
    assert_console_audit(audit_row(AuditAction.MESSAGE_UNPIN, room), moderator)
    assert flashes(response) == ["Unpinned the message from Ben."]


def test_unpin_a_message_pinned_through_the_api_by_its_own_id(moderator_client, room, page):
    factories.PinnedMessageFactory(room=room, message_id="client-chosen-id")

    moderator_client.submit(
        url("message_unpin", room), {"message_id": "client-chosen-id"}, page=page
    )

    assert not PinnedMessage.objects.exists()


def test_a_deleted_message_cannot_be_pinned(moderator_client, room, page):
    gone = factories.ChatMessageFactory(room=room, deleted_at=timezone.now())

    response = moderator_client.submit(url("message_pin", room), {"message_id": gone.pk}, page=page)

    assert not PinnedMessage.objects.exists()
    assert "deleted" in flashes(response)[0]


def test_delete_asks_for_confirmation_first(moderator_client, room, message, page):
    response = moderator_client.submit(
        url("message_delete", room), {"message_id": message.pk, "next": page}, page=page
    )

    assert response.status_code == 200
    assert "moderation/confirm.html" in [t.name for t in response.templates]
    assert response.context["fields"] == {
        "message_id": str(message.pk),
        "next": page,
        "confirm": "1",
    }
    message.refresh_from_db()
    assert message.deleted_at is None


def test_delete_once_confirmed(moderator_client, moderator, room, message, page):
    response = moderator_client.submit(
        url("message_delete", room),
        {"message_id": message.pk, "confirm": "1", "reason": "spam"},
        page=page,
    )

    message.refresh_from_db()
    assert message.deleted_at is not None
    assert message.deleted_by_custom_name == moderator.get_username()
    entry = audit_row(AuditAction.MESSAGE_DELETE, room)
    assert_console_audit(entry, moderator)
    assert entry.reason == "spam"
    assert flashes(response) == ["Deleted the message from Ben. Viewers no longer see it."]


def test_deleted_messages_stay_visible_to_staff_struck_through(moderator_client, room, message):
    services.message_delete(actor=Actor.system(), room=room, message_id=message.pk)

    html = moderator_client.get(url("room", room)).content.decode()

    assert f"<del>{message.text}</del>" in html


def test_deleting_twice_is_a_message(moderator_client, room, message, page):
    data = {"message_id": message.pk, "confirm": "1"}
    moderator_client.submit(url("message_delete", room), data, page=page)

    response = moderator_client.submit(url("message_delete", room), data, page=page)

    assert response.status_code == 302
    assert flashes(response)


def test_every_room_form_refuses_a_post_without_the_csrf_token(moderator_client, room, message):
    for name in ("room_mute", "user_block", "user_unblock", "message_pin", "message_delete"):
        response = moderator_client.post(url(name, room), {"message_id": message.pk, "muted": "1"})
        assert response.status_code == 403, name
    assert not AuditLogEntry.objects.filter(source=AuditSource.CONSOLE).exists()


def test_room_admins_set_slow_mode(room_admin_client, room_admin, room, page):
    response = room_admin_client.submit(
        url("room_slow_mode", room), {"seconds": "30"}, page=page, follow=True
    )

    room.refresh_from_db()
    assert room.slow_mode_seconds == 30
    entry = audit_row(AuditAction.ROOM_SLOW_MODE, room)
    assert_console_audit(entry, room_admin)
    assert entry.after == {"slow_mode_seconds": 30}
    assert "Slow mode is on: viewers may send one message every 30 seconds." in flashes(response)
    assert b"Slow mode 30 s" in room_admin_client.get(page).content


def test_room_admins_turn_slow_mode_off(room_admin_client, room, page, system_actor):
    services.chatroom_set_slow_mode(actor=system_actor, room=room, seconds=30)

    response = room_admin_client.submit(
        url("room_slow_mode", room), {"seconds": "0"}, page=page, follow=True
    )

    room.refresh_from_db()
    assert room.slow_mode_seconds == 0
    assert "Slow mode is off." in flashes(response)


@pytest.mark.parametrize("seconds", ["-1", "3601", "ten", ""])
def test_slow_mode_out_of_range_is_reported_and_changes_nothing(
    room_admin_client, room, page, seconds
):
    response = room_admin_client.submit(
        url("room_slow_mode", room), {"seconds": seconds}, page=page, follow=True
    )

    room.refresh_from_db()
    assert room.slow_mode_seconds == 0
    assert flashes(response)
    assert not AuditLogEntry.objects.filter(action=AuditAction.ROOM_SLOW_MODE).exists()


def test_the_slow_mode_form_needs_the_csrf_token(room_admin_client, room):
    response = room_admin_client.post(url("room_slow_mode", room), {"seconds": "30"})

    assert response.status_code == 403
    room.refresh_from_db()
    assert room.slow_mode_seconds == 0


def test_moderators_see_slow_mode_but_cannot_set_it(moderator_client, room, page, system_actor):
    services.chatroom_set_slow_mode(actor=system_actor, room=room, seconds=10)

    content = moderator_client.get(page).content

    assert b"Slow mode 10 s" in content
    assert url("room_slow_mode", room).encode() not in content
