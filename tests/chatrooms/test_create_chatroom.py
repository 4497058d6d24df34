"""POST /bv/chatroom/v1/chatrooms, as create-chatroom.seed.txt documents it."""

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from chatrooms.models import AuditAction, AuditLogEntry, Chatroom, CustomCounter
from tests.chatrooms.helpers import TIMESTAMP, assert_status, field_violations, same_json_shape

URL = "/bv/chatroom/v1/chatrooms"
EXAMPLE = json.loads((Path(__file__).parent / "data" / "create_chatroom_example.json").read_text())

pytestmark = pytest.mark.django_db


def create(client, body=None, **kwargs):
    return client.post(URL, body if body is not None else {}, format="json", **kwargs)


def test_response_has_every_key_and_type_of_the_documented_example(api_key_client):
    response = create(api_key_client, {"custom_counters": [{"key": "like"}]})

    assert response.status_code == 200
    chat = response.json()["chatroom"]
    # The example's list items and poll are placeholders: compare shapes where present.
    problems = same_json_shape(response.json(), EXAMPLE, nullable=("$.chatroom.active_poll",))
    assert problems == []
    assert set(chat) == set(EXAMPLE["chatroom"])


def test_new_room_values(api_key_client, settings):
    settings.CHATROOM_MESSAGE_TTL = timedelta(days=1)
    settings.CHATROOM_BATCH_WINDOW = timedelta(seconds=1)
    response = create(api_key_client, {"custom_counters": [{"key": "like"}, {"key": "heart"}]})

    chat = response.json()["chatroom"]
    uuid.UUID(chat["id"])
    assert chat["muted"] is False
    assert chat["status"] == "CHAT_STATUS_ACTIVE"
    assert chat["blocked_users"] == []
    assert chat["pinned_messages"] == []
    assert chat["active_poll"] is None
    assert chat["viewer_info"]["enabled"] is False
    assert chat["viewer_info"]["count"] == 0
    assert chat["viewer_info"]["version_number"] == "0"
    assert [c["key"] for c in chat["custom_counters"]] == ["like", "heart"]
    for counter in chat["custom_counters"]:
        assert counter["value"] == 0
        assert counter["version_number"] == "0"
        assert counter["disabled"] is False
        assert TIMESTAMP.match(counter["updated_at"])
    assert chat["message_setting"]["ttl"] == "86400s"
    assert chat["message_setting"]["batch_window"] == "1s"
    assert TIMESTAMP.match(chat["created_at"])
    assert TIMESTAMP.match(chat["updated_at"])
    assert TIMESTAMP.match(chat["viewer_info"]["updated_at"])


def test_room_and_counters_are_stored_in_request_order(api_key_client):
    response = create(api_key_client, {"custom_counters": [{"key": "zeta"}, {"key": "alpha"}]})

    room = Chatroom.objects.get(pk=response.json()["chatroom"]["id"])
    assert list(CustomCounter.objects.filter(room=room).values_list("key", flat=True)) == [
        "zeta",
        "alpha",
    ]


@pytest.mark.parametrize("body", [None, {}, {"custom_counters": []}])
def test_empty_body_creates_a_plain_room(api_key_client, body):
    response = api_key_client.post(URL) if body is None else create(api_key_client, body)

    assert response.status_code == 200
    assert response.json()["chatroom"]["custom_counters"] == []


def test_output_only_and_unknown_fields_are_ignored(api_key_client):
    body = {
        "custom_counters": [
            {
                "key": "like",
                "value": 99,
                "version_number": "7",
                "disabled": True,
                "updated_at": "2020-01-01T00:00:00Z",
            }
        ],
        "muted": True,
        "id": str(uuid.uuid4()),
        "something_new": {"nested": 1},
    }
    response = create(api_key_client, body)

    assert response.status_code == 200
    chat = response.json()["chatroom"]
    assert chat["muted"] is False
    assert chat["id"] != body["id"]
    assert chat["custom_counters"][0]["value"] == 0
    assert chat["custom_counters"][0]["version_number"] == "0"
    assert chat["custom_counters"][0]["disabled"] is False


def test_body_sent_as_form_content_type_is_read_as_json(api_key_client):
    # `curl -d '{...}'` sends application/x-www-form-urlencoded; upstream accepts it.
    response = api_key_client.post(
        URL,
        data='{"custom_counters":[{"key":"like"}]}',
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert response.json()["chatroom"]["custom_counters"][0]["key"] == "like"


@pytest.mark.parametrize(
    ("counters", "field"),
    [
        ([{}], "custom_counters[0].key"),
        ([{"key": ""}], "custom_counters[0].key"),
        ([{"key": "x" * 65}], "custom_counters[0].key"),
        ([{"key": "like"}, {"key": "like"}], "custom_counters[1].key"),
        ([{"key": "like"}, {"key": "has space"}], "custom_counters[1].key"),
        ([{"key": "-leading-dash"}], "custom_counters[0].key"),
        ([{"key": "émoji"}], "custom_counters[0].key"),
        ([{"key": 5}], "custom_counters[0].key"),
        (["like"], "custom_counters[0]"),
        ("like", "custom_counters"),
    ],
)
def test_invalid_counter_keys_are_400_with_the_field_path(api_key_client, counters, field):
    response = create(api_key_client, {"custom_counters": counters})

    body = assert_status(response, 400, 3)
    assert field in field_violations(body)
    assert Chatroom.objects.count() == 0


def test_key_of_64_characters_is_accepted(api_key_client):
    response = create(api_key_client, {"custom_counters": [{"key": "k" * 64}]})

    assert response.status_code == 200


def test_keys_are_case_sensitive(api_key_client):
    response = create(api_key_client, {"custom_counters": [{"key": "Like"}, {"key": "like"}]})

    assert response.status_code == 200


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "\xff\xfe"])
def test_malformed_bodies_are_400(api_key_client, raw):
    response = api_key_client.post(URL, data=raw.encode("latin-1"), content_type="application/json")

    assert_status(response, 400, 3)
    assert Chatroom.objects.count() == 0


def test_create_writes_an_audit_row_with_the_key_as_actor(api_key_client, api_key):
    response = create(api_key_client, {"custom_counters": [{"key": "like"}]})

    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_CREATE)
    assert str(entry.room_id) == response.json()["chatroom"]["id"]
    assert entry.actor_kind == "api_key"
    assert entry.actor_id == f"api_key:{api_key[0].prefix}"
    assert entry.after == {"label": "", "description": "", "custom_counters": ["like"]}


def test_a_room_has_at_most_100_counters(api_key_client):
    from chatrooms.services import MAX_COUNTERS_PER_ROOM

    counters = [{"key": f"k{i}"} for i in range(MAX_COUNTERS_PER_ROOM + 1)]

    response = create(api_key_client, {"custom_counters": counters})

    body = assert_status(response, 429, 8)
    assert body["details"][-1]["reason"] == "TOO_MANY_COUNTERS"
    assert Chatroom.objects.count() == 0
