"""The calls BlendVision's own client makes with an API key (issue 12): create with a
name and a description, list the rooms, get one by id, send a message as a server-side
sender. Their shapes are ours to decide (docs/api.md, "Extensions"); the SDK-facing
shapes do not change."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from chatrooms import selectors, services
from chatrooms.auth import Actor
from chatrooms.models import (
    AuditAction,
    AuditLogEntry,
    ChatMessage,
    Chatroom,
    InteractionType,
    Role,
)
from tests import factories
from tests.chatrooms.helpers import assert_status, field_violations
from tests.conftest import token_client

pytestmark = pytest.mark.django_db

API = "/bv/chatroom/v1"


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


# --- POST /chatrooms with a name and a description ---------------------------------------


def test_create_keeps_name_and_description_for_staff(api_key_client):
    body = {"name": "Finals night", "description": "The grand final, hall B"}

    chat = ok(api_key_client.post(f"{API}/chatrooms", body, format="json"))["chatroom"]

    room = Chatroom.objects.get(pk=chat["id"])
    assert (room.label, room.description) == ("Finals night", "The grand final, hall B")
    # The wire response stays the upstream one.
    assert "name" not in chat and "description" not in chat
    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_CREATE)
    assert entry.after["label"] == "Finals night"
    assert entry.after["description"] == "The grand final, hall B"


def test_create_without_name_is_unchanged(api_key_client):
    chat = ok(api_key_client.post(f"{API}/chatrooms", {}, format="json"))["chatroom"]

    room = Chatroom.objects.get(pk=chat["id"])
    assert (room.label, room.description) == ("", "")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5}, "name"),
        ({"name": "x" * 201}, "name"),
        # The limit counts what was sent, as the schema's maxLength does (schemathesis).
        ({"name": "\u001f" + "x" * 200}, "name"),
        ({"description": " " + "x" * 2000}, "description"),
        ({"description": ["a"]}, "description"),
        ({"description": "x" * 2001}, "description"),
    ],
)
def test_create_refuses_a_bad_name_or_description(api_key_client, body, field):
    response = api_key_client.post(f"{API}/chatrooms", body, format="json")

    assert field in field_violations(assert_status(response, 400, 3))
    assert not Chatroom.objects.exists()


# --- GET /chatrooms with an API key: the rooms, a page at a time --------------------------


def make_rooms(n: int) -> list[Chatroom]:
    """n rooms, the last one the newest."""
    start = timezone.now() - timedelta(hours=1)
    return [
        factories.ChatroomFactory(label=f"Room {i}", created_at=start + timedelta(seconds=i))
        for i in range(n)
    ]


def test_api_key_lists_rooms_newest_first_with_blendvisions_paging(api_key_client):
    rooms = make_rooms(12)

    first = ok(api_key_client.get(f"{API}/chatrooms?page=1&pageSize=10"))
    second = ok(api_key_client.get(f"{API}/chatrooms?page=2&pageSize=10"))

    newest_first = [str(room.id) for room in reversed(rooms)]
    assert [chat["id"] for chat in first["chatrooms"]] == newest_first[:10]
    assert [chat["id"] for chat in second["chatrooms"]] == newest_first[10:]
    assert first["pagination"] == {"current_page": 1, "items_per_page": 10, "has_next_page": True}
    assert second["pagination"] == {
        "current_page": 2,
        "items_per_page": 10,
        "has_next_page": False,
    }
    assert first["chatrooms"][0]["name"] == "Room 11"
    assert "Authorization" in api_key_client.get(f"{API}/chatrooms")["Vary"]


def test_page_size_spellings_default_and_maximum(api_key_client):
    make_rooms(3)

    def page_size(query: str) -> int:
        return ok(api_key_client.get(f"{API}/chatrooms{query}"))["pagination"]["items_per_page"]

    assert page_size("") == selectors.ROOM_PAGE_SIZE_DEFAULT == 10
    assert page_size("?page_size=2") == 2
    assert page_size("?pageSize=2") == 2
    assert page_size("?page_size=2&pageSize=3") == 2  # the upstream spelling wins
    assert page_size("?page_size=5000") == selectors.ROOM_PAGE_SIZE_MAX == 100


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=x", "page"),
        ("page_size=0", "page_size"),
        ("pageSize=0", "pageSize"),
        ("pageSize=ten", "pageSize"),
        ("page_size=&page=3", "page_size"),
        ("page=", "page"),
    ],
)
def test_bad_paging_is_400(api_key_client, query, field):
    response = api_key_client.get(f"{API}/chatrooms?{query}")

    assert field in field_violations(assert_status(response, 400, 3))


def test_pages_reach_the_newest_ten_thousand_rooms(api_key_client):
    limit = selectors.ROOM_LIST_MAX_OFFSET

    last = api_key_client.get(f"{API}/chatrooms?page={limit // 100}&pageSize=100")
    beyond = api_key_client.get(f"{API}/chatrooms?page={limit // 100 + 1}&pageSize=100")
    small_pages = api_key_client.get(f"{API}/chatrooms?page={limit // 10 + 1}")

    assert ok(last)["chatrooms"] == []
    body = assert_status(beyond, 400, 3)
    assert body["details"][-1]["reason"] == "PAGE_OUT_OF_RANGE"
    assert "page" in field_violations(body)
    assert_status(small_pages, 400, 3)


def test_a_page_past_the_end_is_empty(api_key_client):
    make_rooms(2)

    body = ok(api_key_client.get(f"{API}/chatrooms?page=3&pageSize=10"))

    assert body == {
        "chatrooms": [],
        "pagination": {"current_page": 3, "items_per_page": 10, "has_next_page": False},
    }


def test_listed_rooms_show_the_same_state_as_get_by_id(api_key_client, room, admin_token_client):
    factories.BlockedUserFactory(room=room)
    factories.PinnedMessageFactory(room=room)
    factories.PollFactory(room=room, status="POLL_STATUS_ACTIVE", started_at=timezone.now())
    make_rooms(2)

    listed = ok(api_key_client.get(f"{API}/chatrooms"))["chatrooms"]
    by_id = ok(api_key_client.get(f"{API}/chatrooms/{room.id}"))["chatroom"]
    as_admin = ok(admin_token_client.get(f"{API}/chatrooms"))["chatroom"]

    [same] = [chat for chat in listed if chat["id"] == str(room.id)]
    assert same == by_id
    # The API-key reads are the token's state plus the staff label and description.
    assert {k: v for k, v in by_id.items() if k not in ("name", "description")} == as_admin


def test_a_chatroom_token_still_gets_its_own_room_whatever_the_query(viewer_token_client, room):
    make_rooms(3)

    body = ok(viewer_token_client.get(f"{API}/chatrooms?page=2&pageSize=1"))

    assert list(body) == ["chatroom"]
    assert body["chatroom"]["id"] == str(room.id)
    assert "name" not in body["chatroom"]


def test_a_bad_paging_query_does_not_concern_a_chatroom_token(viewer_token_client, room):
    assert ok(viewer_token_client.get(f"{API}/chatrooms?page=0"))["chatroom"]["id"] == str(room.id)


# --- GET /chatrooms/{id} ------------------------------------------------------------------


def test_get_by_id_answers_as_create_does_plus_the_staff_fields(api_key_client):
    created = ok(
        api_key_client.post(
            f"{API}/chatrooms",
            {"name": "Keynote", "description": "Day 1", "custom_counters": [{"key": "like"}]},
            format="json",
        )
    )["chatroom"]

    chat = ok(api_key_client.get(f"{API}/chatrooms/{created['id']}"))["chatroom"]

    assert chat == {**created, "name": "Keynote", "description": "Day 1"}


def test_get_by_unknown_id_is_404_in_the_status_shape(api_key_client):
    response = api_key_client.get(f"{API}/chatrooms/{uuid.uuid4()}")

    body = assert_status(response, 404, 5)
    assert body["details"][-1]["reason"] == "CHATROOM_NOT_FOUND"


def test_literal_paths_are_not_read_as_room_ids(api_key_client, viewer_token_client):
    """`/chatrooms/config` and its siblings keep their meaning next to `/chatrooms/{id}`."""
    assert_status(api_key_client.get(f"{API}/chatrooms/config"), 403, 7)
    assert ok(viewer_token_client.get(f"{API}/chatrooms/config"))["topic"]
    assert ok(viewer_token_client.get(f"{API}/chatrooms/polls"))["polls"] == []
    assert_status(api_key_client.get(f"{API}/chatrooms/{uuid.uuid4()}/nothing"), 404, 5)


# --- POST /chatrooms/{id}/messages ---------------------------------------------------------


def send_as_server(client, room, body):
    return client.post(f"{API}/chatrooms/{room.id}/messages", body, format="json")


def test_blendvisions_client_message_appears_from_its_user_id_as_an_admin(api_key_client, room):
    message = ok(send_as_server(api_key_client, room, {"message": "hi", "userId": "u1"}))["message"]

    assert message["type"] == InteractionType.TEXT
    assert message["text_message"] == {"text": "hi", "filtered": False}
    assert message["user"] == {
        "id": "u1",
        "device_id": "",
        "custom_name": "u1",
        "is_admin": True,
        "is_guest": False,
        "blocked": False,
    }
    stored = ChatMessage.objects.get(pk=message["id"])
    assert (stored.user_id, stored.user_is_admin, stored.text) == ("u1", True, "hi")


def test_without_a_user_id_it_comes_from_the_key(api_key_client, api_key, room):
    message = ok(send_as_server(api_key_client, room, {"message": "hi"}))["message"]

    assert message["user"]["id"] == f"api_key:{api_key[0].prefix}"
    assert message["user"]["custom_name"] == "Server"


def test_the_interaction_message_form_is_accepted(api_key_client, room, viewer_token_client):
    body = {
        "type": InteractionType.TEXT,
        "text_message": {"text": "Doors open at 7"},
        "user": {"id": "host-bot", "custom_name": "Host bot"},
        "sent_at": "2026-11-29T10:00:00.123456789Z",
    }

    message = ok(send_as_server(api_key_client, room, body))["message"]

    assert message["user"]["id"] == "host-bot"
    assert message["user"]["custom_name"] == "Host bot"
    assert message["sent_at"] == "2026-11-29T10:00:00.123Z"
    history = ok(viewer_token_client.get(f"{API}/chatrooms/messages"))["messages"]
    assert [m["id"] for m in history] == [message["id"]]


def test_a_counter_increment_sent_with_an_api_key_counts(api_key_client, room):
    body = {"type": InteractionType.CUSTOM, "custom_message": {"incr": {"key": "like", "value": 5}}}

    ok(send_as_server(api_key_client, room, body))

    services.chatroom_rollup(room=room, force=True)
    state = selectors.chatroom_get_state(room=room)
    assert {c.key: c.value for c in state.custom_counters}["like"] == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "   "}, "message"),
        ({"message": 5}, "message"),
        ({"message": "x" * 2001}, "message"),
        ({"message": "hi", "userId": 7}, "userId"),
        ({"message": "hi", "userId": "u" * 129}, "userId"),
        ({"type": InteractionType.TEXT}, "text_message"),
        ({"type": InteractionType.POLL_USER_VOTE, "vote": {}}, "type"),
    ],
)
def test_a_bad_message_is_400(api_key_client, room, body, field):
    response = send_as_server(api_key_client, room, body)

    assert field in field_violations(assert_status(response, 400, 3))
    assert not ChatMessage.objects.exists()


def test_the_server_sender_posts_into_a_muted_room(api_key_client, room, viewer_token_client):
    services.chatroom_set_muted(actor=Actor.system("tests"), room=room, muted=True)

    ok(send_as_server(api_key_client, room, {"message": "Back in 5 minutes"}))

    assert_status(
        viewer_token_client.post(
            f"{API}/chatrooms/messages",
            {"type": InteractionType.TEXT, "text_message": {"text": "hello?"}},
            format="json",
        ),
        400,
        9,
    )


def test_an_inactive_room_refuses_it(api_key_client, room):
    services.chatroom_change_status(
        actor=Actor.system("tests"), room=room, status="CHAT_STATUS_INACTIVE"
    )

    body = assert_status(send_as_server(api_key_client, room, {"message": "hi"}), 400, 9)

    assert body["details"][-1]["reason"] == "CHATROOM_INACTIVE"


def test_a_blocked_user_id_sends_as_blocked_users_do(api_key_client, room, admin_token_client):
    admin_token_client.post(
        f"{API}/chatrooms/users:block", {"blocked_user": {"id": "troll"}}, format="json"
    )
    viewer = token_client(room, Role.VIEWER, subject="ann")

    message = ok(send_as_server(api_key_client, room, {"message": "spam", "userId": "troll"}))[
        "message"
    ]

    assert message["user"]["blocked"] is True
    assert ok(viewer.get(f"{API}/chatrooms/messages"))["messages"] == []
    admin_history = ok(admin_token_client.get(f"{API}/chatrooms/messages"))["messages"]
    assert [m["id"] for m in admin_history] == [message["id"]]


def test_slow_mode_does_not_slow_the_server_sender(api_key_client, room):
    services.chatroom_set_slow_mode(actor=Actor.system("tests"), room=room, seconds=60)

    for text in ("one", "two", "three"):
        ok(send_as_server(api_key_client, room, {"message": text, "userId": "u1"}))


def test_an_api_keys_sends_share_one_allowance_per_room(api_key_client, room, settings):
    # A small send limit, so the test sends few messages; the rule is the same at 50/10s.
    from config.settings import parse_rate

    settings.CHATROOM_SEND_RATE = parse_rate("CHATROOM_SEND_RATE", "2/60s")
    for user_id in ("u1", "u2"):
        ok(send_as_server(api_key_client, room, {"message": "hi", "userId": user_id}))

    response = send_as_server(api_key_client, room, {"message": "hi", "userId": "u3"})

    body = assert_status(response, 429, 8)
    assert body["details"][0]["reason"] == "SEND_RATE_LIMITED"
    assert int(response["Retry-After"]) >= 1
    # A chatroom token's user with the same id has an allowance of its own.
    same_id = token_client(room, Role.VIEWER, subject="u1")
    ok(
        same_id.post(
            f"{API}/chatrooms/messages",
            {"type": InteractionType.TEXT, "text_message": {"text": "mine"}},
            format="json",
        )
    )


def test_a_client_chosen_id_is_kept_and_reuse_is_409(api_key_client, room):
    chosen = str(uuid.uuid4())
    body = {"id": chosen, "type": InteractionType.TEXT, "text_message": {"text": "once"}}

    assert ok(send_as_server(api_key_client, room, body))["message"]["id"] == chosen
    assert_status(send_as_server(api_key_client, room, body), 409, 6)
