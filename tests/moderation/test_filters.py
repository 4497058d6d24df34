"""The console's list filters (moderation.filters): bad input on the rooms list, the
audit log and the room page's blocked users is shown beside its field and left out,
the other filters still apply, and nothing answers 500. The FilterSets only narrow
the queryset they are given (the view's, already scoped)."""

import html

import pytest
from django import forms
from django.core.validators import MaxLengthValidator
from django.urls import reverse

from chatrooms import selectors, services
from chatrooms.models import AuditAction, AuditLogEntry, Chatroom
from moderation.filters import AuditLogFilter, BlockedUserFilter, RoomFilter
from tests import factories

pytestmark = pytest.mark.django_db

ROOMS = reverse("moderation:rooms")
AUDIT = reverse("moderation:audit")
AUDIT_CSV = reverse("moderation:audit_csv")

# A NUL character never reaches a view: chatrooms.middleware answers 400 first.
HOSTILE = [
    "x" * 5000,
    "BOGUS",
    "null",
    "2026-13-45T99:99",
    "99999-01-01T00:00",
    "' OR 1=1 --",
    "%",
    "<script>",
]


def invalid_choice(value: str) -> str:
    return forms.ChoiceField.default_error_messages["invalid_choice"] % {"value": value}


def too_long(limit: int, length: int) -> str:
    return MaxLengthValidator.message % {"limit_value": limit, "show_value": length}


def shown(response, text: str) -> bool:
    return html.escape(text) in response.content.decode()


def room_page(room) -> str:
    return reverse("moderation:room", kwargs={"room_id": room.pk})


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("name", ["q", "status", "muted", "poll", "sort"])
def test_no_rooms_filter_value_is_a_500(moderator_client, name, value):
    factories.ChatroomFactory()

    assert moderator_client.get(ROOMS, {name: value}).status_code == 200


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("name", ["room", "actor", "target", "action", "source", "since", "until"])
def test_no_audit_filter_value_is_a_500(moderator_client, room, name, value):
    assert moderator_client.get(AUDIT, {name: value}).status_code == 200
    response = moderator_client.get(AUDIT_CSV, {name: value})
    assert response.status_code == 200
    b"".join(response.streaming_content)


@pytest.mark.parametrize("value", HOSTILE)
def test_no_blocked_search_is_a_500(moderator_client, room, value):
    factories.BlockedUserFactory(room=room)

    assert moderator_client.get(room_page(room), {"blocked": value}).status_code == 200


def test_an_invalid_room_filter_is_shown_and_the_others_still_apply(moderator_client):
    muted = factories.ChatroomFactory(muted=True)
    factories.ChatroomFactory(muted=False)

    response = moderator_client.get(ROOMS, {"status": "BOGUS", "muted": "yes"})

    assert list(response.context["rooms"]) == [muted]
    assert response.context["form"].errors["status"] == [invalid_choice("BOGUS")]
    assert shown(response, invalid_choice("BOGUS"))
    assert response.context["filtered"]  # "Clear" is offered: muted=yes applies


def test_a_search_too_long_is_refused_with_a_message(moderator_client):
    factories.ChatroomFactory()

    response = moderator_client.get(ROOMS, {"q": "x" * 201})

    assert len(response.context["rooms"]) == 1
    assert shown(response, too_long(200, 201))


def test_sorting_alone_is_not_filtering(moderator_client):
    factories.ChatroomFactory()

    response = moderator_client.get(ROOMS, {"sort": "label"})

    assert not response.context["filtered"]
    assert b">Clear<" not in response.content


def test_an_invalid_audit_time_is_shown_and_the_others_still_apply(
    moderator_client, room, system_actor
):
    services.chatroom_set_muted(actor=system_actor, room=room, muted=True)

    response = moderator_client.get(AUDIT, {"since": "yesterday", "action": AuditAction.ROOM_MUTE})

    assert [e.action for e in response.context["entries"]] == [AuditAction.ROOM_MUTE]
    error = forms.DateTimeField.default_error_messages["invalid"]
    assert response.context["form"].errors["since"] == [error]
    assert shown(response, str(error))


def test_a_blocked_search_too_long_is_ignored_with_a_message(moderator_client, room):
    factories.BlockedUserFactory.create_batch(2, room=room)

    response = moderator_client.get(room_page(room), {"blocked": "x" * 129})

    assert len(response.context["blocked"]) == 2
    assert response.context["blocked_search"] == ""
    assert shown(response, too_long(128, 129))


# --- The FilterSets narrow the queryset they are given, never widen it -------------


def test_the_rooms_filter_keeps_to_the_given_rooms():
    mine = factories.ChatroomFactory(label="Keynote")
    other = factories.ChatroomFactory(label="Keynote too")
    given = selectors.console_room_queryset().filter(pk=mine.pk)

    assert list(RoomFilter({"q": "keynote"}, queryset=given).qs) == [mine]
    assert list(RoomFilter({"q": str(other.pk)}, queryset=given).qs) == []


def test_the_audit_filter_keeps_to_the_given_entries(room, system_actor):
    other = services.chatroom_create(actor=system_actor)
    given = selectors.audit_log_queryset().filter(room=room)

    rows = AuditLogFilter({"room": str(other.pk)}, queryset=given).qs

    assert list(rows) == []
    assert AuditLogEntry.objects.filter(room=other).exists()


def test_the_blocked_filter_keeps_to_the_given_room(room):
    factories.BlockedUserFactory(room=room, user_id="sam-1")
    factories.BlockedUserFactory(room=factories.ChatroomFactory(), user_id="sam-2")

    rows = BlockedUserFilter(
        {"blocked": "sam"}, queryset=selectors.console_blocked_users(room=room)
    )

    assert [b.user_id for b in rows.qs] == ["sam-1"]


def test_an_unbound_rooms_filter_lists_every_room_newest_first():
    factories.ChatroomFactory.create_batch(2)

    filters = RoomFilter(None, queryset=selectors.console_room_queryset())

    assert filters.qs.count() == Chatroom.objects.count() == 2
    assert filters.order == selectors.ROOM_SORTS["newest"]
    assert not filters.filtered
