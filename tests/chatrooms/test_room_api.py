"""Room state and the room-wide switches: mute, status, counters, viewer info."""

import pytest

from chatrooms.errors import FailedPrecondition
from chatrooms.models import AuditAction, AuditLogEntry, ChatStatus, CustomCounter
from tests import factories
from tests.chatrooms.helpers import assert_status, field_violations

B = "/bv/chatroom/v1"

pytestmark = pytest.mark.django_db


def state(client) -> dict:
    response = client.get(f"{B}/chatrooms")
    assert response.status_code == 200, response.content
    return response.json()["chatroom"]


def test_get_chatroom_returns_the_tokens_room(viewer_token_client, room):
    chat = state(viewer_token_client)

    assert chat["id"] == str(room.id)
    assert [c["key"] for c in chat["custom_counters"]] == ["like", "heart"]


def test_state_lists_active_blocks_pins_and_the_active_poll(admin_token_client, room):
    factories.BlockedUserFactory(room=room, user_id="u1", custom_name="Spammer")
    ended = factories.BlockedUserFactory(room=room, user_id="u2")
    ended.unblocked_at = ended.blocked_at
    ended.save()
    factories.PinnedMessageFactory(room=room, message_id="m1", message_text="Welcome!")
    poll = factories.PollFactory(room=room, status="POLL_STATUS_ACTIVE")

    chat = state(admin_token_client)

    assert [u["id"] for u in chat["blocked_users"]] == ["u1"]
    assert chat["blocked_users"][0]["blocked"] is True
    assert chat["blocked_users"][0]["action_taker"]["custom_name"] == "Host"
    assert chat["pinned_messages"][0]["message"]["text"] == "Welcome!"
    assert chat["active_poll"]["id"] == str(poll.id)
    assert [o["text"] for o in chat["active_poll"]["multi_choice"]["options"]] == ["Yes", "No"]


@pytest.mark.parametrize(("path", "muted"), [("chatrooms:mute", True), ("chatrooms:unmute", False)])
def test_mute_and_unmute(admin_token_client, room, path, muted):
    if not muted:
        room.muted = True
        room.save()

    response = admin_token_client.post(
        f"{B}/{path}", {"action_taker": {"custom_name": "Mod"}}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {}
    assert state(admin_token_client)["muted"] is muted
    entry = AuditLogEntry.objects.get(
        action=AuditAction.ROOM_MUTE if muted else AuditAction.ROOM_UNMUTE
    )
    assert entry.actor_id == "admin-1"
    assert entry.actor_name == "Mod"  # the action taker's custom_name
    assert entry.source == "api"


def test_muting_twice_writes_one_audit_row(admin_token_client):
    for _ in range(2):
        admin_token_client.post(f"{B}/chatrooms:mute", {}, format="json")

    assert AuditLogEntry.objects.filter(action=AuditAction.ROOM_MUTE).count() == 1


def test_change_status_with_api_key(api_key_client, room):
    url = f"{B}/chatrooms/{room.id}:change-status"

    response = api_key_client.post(url, {"action": "ACTION_INACTIVE"}, format="json")

    assert response.status_code == 200
    assert response.json() == {}
    room.refresh_from_db()
    assert room.status == ChatStatus.INACTIVE
    api_key_client.post(url, {"action": "ACTION_ACTIVE"}, format="json")
    room.refresh_from_db()
    assert room.status == ChatStatus.ACTIVE


@pytest.mark.parametrize("body", [{}, {"action": "ACTION_PAUSE"}, {"action": 1}])
def test_change_status_needs_a_valid_action(api_key_client, room, body):
    response = api_key_client.post(f"{B}/chatrooms/{room.id}:change-status", body, format="json")

    body = assert_status(response, 400, 3)
    assert "action" in field_violations(body)


WRITES = [
    ("post", "chatrooms:mute", {}),
    ("post", "chatrooms/users:block", {"blocked_user": {"id": "u1"}}),
    ("post", "chatrooms/messages:pin", {"pinned_message": {"message": {"id": "m1"}}}),
    ("put", "chatrooms/viewer-infos", {"viewer_info": {"enabled": True}}),
    (
        "post",
        "chatrooms/polls",
        {
            "poll": {
                "type": "POLL_TYPE_SINGLE_CHOICE",
                "multi_choice": {"question": "Q?", "options": [{"text": "a"}, {"text": "b"}]},
            }
        },
    ),
    (
        "post",
        "chatrooms/messages",
        {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": "hi"}},
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[w[1] for w in WRITES])
def test_an_inactive_room_refuses_every_write(admin_token_client, room, method, path, body):
    room.status = ChatStatus.INACTIVE
    room.save()
    audit_rows = AuditLogEntry.objects.count()

    response = getattr(admin_token_client, method)(f"{B}/{path}", body, format="json")

    body = assert_status(response, 400, FailedPrecondition.grpc_code)
    assert body["details"][-1]["reason"] == "CHATROOM_INACTIVE"
    assert AuditLogEntry.objects.count() == audit_rows
    assert state(admin_token_client)["status"] == ChatStatus.INACTIVE  # reads still work


def test_an_inactive_room_can_be_reactivated(api_key_client, room):
    room.status = ChatStatus.INACTIVE
    room.save()

    response = api_key_client.post(
        f"{B}/chatrooms/{room.id}:change-status", {"action": "ACTION_ACTIVE"}, format="json"
    )

    assert response.status_code == 200


def test_dropped_counter_keys_are_disabled_and_keep_their_values(
    api_key_client, room, admin_token_client
):
    CustomCounter.objects.filter(room=room, key="heart").update(value=42)
    url = f"{B}/chatrooms/{room.id}/custom-counters"

    response = api_key_client.put(
        url, {"custom_counters": [{"key": "fire"}, {"key": "like"}]}, format="json"
    )

    assert response.status_code == 200
    counters = {c["key"]: c for c in state(admin_token_client)["custom_counters"]}
    assert counters["heart"]["disabled"] is True
    assert counters["heart"]["value"] == 42
    assert counters["heart"]["version_number"] == "1"
    assert counters["fire"]["disabled"] is False
    assert counters["like"]["version_number"] == "0"  # unchanged
    ordered = [c["key"] for c in state(admin_token_client)["custom_counters"]]
    assert ordered == ["fire", "like", "heart"]

    api_key_client.put(url, {"custom_counters": [{"key": "heart"}]}, format="json")

    counters = {c["key"]: c for c in state(admin_token_client)["custom_counters"]}
    assert counters["heart"]["disabled"] is False
    assert counters["heart"]["value"] == 42
    assert counters["heart"]["version_number"] == "2"
    assert counters["like"]["disabled"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "custom_counters"),
        ({"custom_counters": [{"key": "a"}, {"key": "a"}]}, "custom_counters[1].key"),
        ({"custom_counters": [{"key": "bad key"}]}, "custom_counters[0].key"),
    ],
)
def test_counter_update_validation(api_key_client, room, body, field):
    response = api_key_client.put(f"{B}/chatrooms/{room.id}/custom-counters", body, format="json")

    assert field in field_violations(assert_status(response, 400, 3))


def test_viewer_info_toggle_bumps_the_version(admin_token_client):
    before = state(admin_token_client)["viewer_info"]

    response = admin_token_client.put(
        f"{B}/chatrooms/viewer-infos",
        {"viewer_info": {"enabled": True, "count": 999}, "action_taker": {"custom_name": "H"}},
        format="json",
    )

    assert response.status_code == 200
    after = state(admin_token_client)["viewer_info"]
    assert after["enabled"] is True
    assert after["count"] == 0  # output only
    assert int(after["version_number"]) == int(before["version_number"]) + 1


@pytest.mark.parametrize("enabled", ["true", 1, None])
def test_viewer_info_enabled_must_be_a_json_boolean(admin_token_client, enabled):
    response = admin_token_client.put(
        f"{B}/chatrooms/viewer-infos", {"viewer_info": {"enabled": enabled}}, format="json"
    )

    assert "viewer_info.enabled" in field_violations(assert_status(response, 400, 3))


def test_a_viewer_count_shows_with_a_new_version(viewer_token_client, room):
    from chatrooms import services

    before = state(viewer_token_client)["viewer_info"]
    services.viewer_count_set(room=room, count=1532)

    after = state(viewer_token_client)["viewer_info"]
    assert after["count"] == 1532
    assert int(after["version_number"]) == int(before["version_number"]) + 1
