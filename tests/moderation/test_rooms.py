"""The rooms list: search, filters, sorting, keyset paging, counts per row,
a fixed number of queries, and "New room" for room admins."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from chatrooms import services
from chatrooms.models import (
    AuditAction,
    AuditLogEntry,
    AuditSource,
    Chatroom,
    ChatStatus,
    PollStatus,
)
from moderation.views.rooms import ROOMS_PAGE_SIZE
from tests import factories

pytestmark = pytest.mark.django_db

ROOMS = reverse("moderation:rooms")
NEW_ROOM = reverse("moderation:room_new")


def listed(response) -> list[Chatroom]:
    return list(response.context["rooms"])


def make_busy_room(label="Busy", **kwargs) -> Chatroom:
    """A room with one of everything the list counts."""
    room = factories.ChatroomFactory(label=label, **kwargs)
    factories.BlockedUserFactory(room=room)
    factories.PinnedMessageFactory(room=room)
    factories.PollFactory(room=room, status=PollStatus.ACTIVE, question=f"{label}?")
    factories.ChatMessageFactory(room=room)
    return room


def test_each_row_shows_counts_active_poll_and_last_message(moderator_client):
    room = factories.ChatroomFactory(label="Keynote")
    factories.BlockedUserFactory.create_batch(2, room=room)
    factories.BlockedUserFactory(room=room, unblocked_at=timezone.now())  # not active
    factories.BlockedUserFactory(room=room, expires_at=timezone.now() - timedelta(minutes=1))
    factories.PinnedMessageFactory.create_batch(3, room=room)
    factories.PollFactory(room=room, status=PollStatus.ACTIVE, question="Best talk?")
    factories.PollFactory(room=room, status=PollStatus.CLOSED, question="Old poll?")
    last = timezone.now() - timedelta(minutes=5)
    factories.ChatMessageFactory(room=room, received_at=last - timedelta(minutes=1))
    factories.ChatMessageFactory(room=room, received_at=last)

    response = moderator_client.get(ROOMS)

    [row] = listed(response)
    assert (row.blocked_count, row.pinned_count) == (2, 3)
    assert row.active_poll_question == "Best talk?"
    assert row.last_message_at == last
    assert b"Keynote" in response.content
    assert b"Best talk?" in response.content


def test_a_room_without_activity_has_zero_counts(moderator_client):
    factories.ChatroomFactory()

    [row] = listed(moderator_client.get(ROOMS))

    assert (row.blocked_count, row.pinned_count) == (0, 0)
    assert row.active_poll_question is None
    assert row.last_message_at is None


def test_search_by_room_id_is_exact(moderator_client):
    wanted, _other = factories.ChatroomFactory(), factories.ChatroomFactory()

    assert listed(moderator_client.get(ROOMS, {"q": str(wanted.pk)})) == [wanted]


def test_search_by_label_is_case_insensitive_and_partial(moderator_client):
    keynote = factories.ChatroomFactory(label="Opening KEYNOTE")
    factories.ChatroomFactory(label="Workshop")

    assert listed(moderator_client.get(ROOMS, {"q": "keynote"})) == [keynote]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": ChatStatus.INACTIVE}, ["closed"]),
        ({"muted": "yes"}, ["muted"]),
        ({"muted": "no"}, ["closed", "polling", "plain"]),
        ({"poll": "yes"}, ["polling"]),
        ({"poll": "no"}, ["muted", "closed", "plain"]),
    ],
)
def test_filters(moderator_client, params, expected):
    now = timezone.now()
    factories.ChatroomFactory(label="plain", created_at=now - timedelta(minutes=4))
    factories.PollFactory(
        room=factories.ChatroomFactory(label="polling", created_at=now - timedelta(minutes=3)),
        status=PollStatus.ACTIVE,
    )
    factories.ChatroomFactory(
        label="closed", status=ChatStatus.INACTIVE, created_at=now - timedelta(minutes=2)
    )
    factories.ChatroomFactory(label="muted", muted=True, created_at=now - timedelta(minutes=1))

    labels = [room.label for room in listed(moderator_client.get(ROOMS, params))]

    assert sorted(labels) == sorted(expected)


def test_an_invalid_filter_value_is_ignored(moderator_client):
    factories.ChatroomFactory()

    response = moderator_client.get(ROOMS, {"status": "BOGUS", "sort": "nope"})

    assert response.status_code == 200
    assert len(listed(response)) == 1


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("newest", ["b", "c", "a"]),
        ("oldest", ["a", "c", "b"]),
        ("label", ["a", "b", "c"]),
        ("-label", ["c", "b", "a"]),
    ],
)
def test_sorting(moderator_client, sort, expected):
    now = timezone.now()
    for label, age in (("a", 3), ("c", 2), ("b", 1)):
        factories.ChatroomFactory(label=label, created_at=now - timedelta(minutes=age))

    labels = [room.label for room in listed(moderator_client.get(ROOMS, {"sort": sort}))]

    assert labels == expected


@pytest.mark.parametrize("sort", ["newest", "oldest", "label", "-label"])
def test_keyset_pages_cover_every_room_once_forward_and_back(moderator_client, sort):
    now = timezone.now()
    total = ROOMS_PAGE_SIZE * 2 + 7
    for index in range(total):
        # Repeated labels and creation times: the id must break the ties.
        factories.ChatroomFactory(
            label=f"room {index % 5}", created_at=now - timedelta(days=index % 3)
        )

    pages, response = [], moderator_client.get(ROOMS, {"sort": sort})
    while True:
        pages.append([room.pk for room in listed(response)])
        cursor = response.context["next_cursor"]
        if not cursor:
            break
        response = moderator_client.get(ROOMS, {"sort": sort, "after": cursor})

    seen = [pk for page in pages for pk in page]
    assert [len(page) for page in pages] == [ROOMS_PAGE_SIZE, ROOMS_PAGE_SIZE, 7]
    assert len(set(seen)) == total

    # And back from the last page to the first.
    back = [pages[-1]]
    while response.context["prev_cursor"]:
        response = moderator_client.get(
            ROOMS, {"sort": sort, "before": response.context["prev_cursor"]}
        )
        back.insert(0, [room.pk for room in listed(response)])
    assert back == pages


def test_a_broken_cursor_shows_the_first_page(moderator_client):
    room = factories.ChatroomFactory()

    response = moderator_client.get(ROOMS, {"after": "not-a-cursor!"})

    assert listed(response) == [room]


def test_the_list_runs_a_fixed_number_of_queries(moderator_client, django_assert_num_queries):
    # 1 session, 2 user, 3 the user's permissions, 4 their groups' permissions,
    # 5 one page of rooms, with every count and the last message time as subqueries,
    # 6 the word filter's held counts of the page's rooms.
    queries = 6
    make_busy_room("first")
    with django_assert_num_queries(queries):
        assert len(listed(moderator_client.get(ROOMS))) == 1

    for index in range(199):
        make_busy_room(f"room {index}")
    with django_assert_num_queries(queries):
        response = moderator_client.get(ROOMS, {"poll": "yes", "q": "room"})
    assert len(listed(response)) == ROOMS_PAGE_SIZE
    assert response.context["next_cursor"]


def test_room_admins_see_the_new_room_button_and_moderators_do_not(
    moderator_client, room_admin_client
):
    assert NEW_ROOM.encode() in room_admin_client.get(ROOMS).content
    assert NEW_ROOM.encode() not in moderator_client.get(ROOMS).content


def test_a_room_admin_creates_a_room_with_label_and_counters(room_admin_client, room_admin):
    response = room_admin_client.submit(
        NEW_ROOM, {"label": "Finals", "counter_keys": "like, heart fire"}, page=NEW_ROOM
    )

    room = Chatroom.objects.get(label="Finals")
    assert response.status_code == 302
    assert response["Location"] == reverse("moderation:room", kwargs={"room_id": room.pk})
    assert [c.key for c in room.custom_counters.all()] == ["like", "heart", "fire"]
    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_CREATE, room=room)
    assert (entry.actor_user, entry.source) == (room_admin, AuditSource.CONSOLE)


def test_a_room_needs_nothing_but_the_click(room_admin_client):
    room_admin_client.submit(NEW_ROOM, {}, page=NEW_ROOM)

    assert Chatroom.objects.get().label == ""


def test_an_invalid_counter_key_is_shown_on_the_form(room_admin_client):
    response = room_admin_client.submit(NEW_ROOM, {"counter_keys": "ok, -bad"}, page=NEW_ROOM)

    assert response.status_code == 200
    assert response.context["form"].errors["counter_keys"]
    assert not Chatroom.objects.exists()


def test_new_room_refuses_a_post_without_the_csrf_token(room_admin_client):
    response = room_admin_client.post(NEW_ROOM, {"label": "x"})

    assert response.status_code == 403
    assert not Chatroom.objects.exists()


def test_the_service_is_the_only_writer(room_admin_client, monkeypatch):
    calls = []
    real = services.chatroom_create
    monkeypatch.setattr(services, "chatroom_create", lambda **kw: calls.append(kw) or real(**kw))

    room_admin_client.submit(NEW_ROOM, {"label": "Via service"}, page=NEW_ROOM)

    assert [call["label"] for call in calls] == ["Via service"]
