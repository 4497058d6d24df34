"""Blocking, renaming and pinning through the chatroom API."""

import pytest

from chatrooms import services
from chatrooms.errors import NotFound, ResourceExhausted
from chatrooms.models import AuditAction, AuditLogEntry, BlockedUser, PinnedMessage, RefreshToken
from tests.chatrooms.helpers import assert_status, field_violations

B = "/bv/chatroom/v1"

pytestmark = pytest.mark.django_db


def block(client, user_id="u1", **extra):
    body = {
        "blocked_user": {
            "id": user_id,
            "device_id": "d-" + user_id,
            "custom_name": "Spammer",
            **extra,
        }
    }
    return client.post(f"{B}/chatrooms/users:block", body, format="json")


def blocked_ids(client) -> list[str]:
    return [u["id"] for u in client.get(f"{B}/chatrooms").json()["chatroom"]["blocked_users"]]


def test_block_adds_the_user_with_the_action_taker_from_the_token(admin_token_client, room):
    response = block(
        admin_token_client,
        action_taker={"custom_name": "Moderator Mia", "id": "forged", "is_admin": False},
    )

    assert response.status_code == 200
    assert response.json() == {}
    user = admin_token_client.get(f"{B}/chatrooms").json()["chatroom"]["blocked_users"][0]
    assert user == {
        "id": "u1",
        "device_id": "d-u1",
        "custom_name": "Spammer",
        "blocked": True,
        "action_taker": {
            "id": "admin-1",
            "device_id": "admin-device",
            "custom_name": "Moderator Mia",
            "is_admin": True,
            "is_guest": False,
            "blocked": False,
        },
    }
    entry = AuditLogEntry.objects.get(action=AuditAction.USER_BLOCK)
    assert (entry.target_id, entry.actor_id, entry.room_id) == ("u1", "admin-1", room.id)


def test_blocking_twice_is_idempotent(admin_token_client):
    block(admin_token_client)
    response = block(admin_token_client)

    assert response.status_code == 200
    assert BlockedUser.objects.count() == 1
    assert AuditLogEntry.objects.filter(action=AuditAction.USER_BLOCK).count() == 1


def test_block_needs_a_user_id(admin_token_client):
    response = admin_token_client.post(
        f"{B}/chatrooms/users:block", {"blocked_user": {"custom_name": "x"}}, format="json"
    )

    assert "blocked_user.id" in field_violations(assert_status(response, 400, 3))


def test_unblock_then_block_again(admin_token_client):
    block(admin_token_client)

    response = admin_token_client.post(
        f"{B}/chatrooms/users:unblock", {"unblocked_user": {"id": "u1"}}, format="json"
    )

    assert response.status_code == 200
    assert blocked_ids(admin_token_client) == []
    block(admin_token_client)
    assert blocked_ids(admin_token_client) == ["u1"]
    assert BlockedUser.objects.count() == 2  # the first block stays as history


def test_unblocking_a_user_who_is_not_blocked_is_404(admin_token_client):
    response = admin_token_client.post(
        f"{B}/chatrooms/users:unblock", {"unblocked_user": {"id": "nobody"}}, format="json"
    )

    body = assert_status(response, 404, NotFound.grpc_code)
    assert body["details"][-1]["reason"] == "USER_NOT_BLOCKED"


def test_rename_is_carried_by_refreshed_tokens(make_token_client, room, anon_client):
    admin = make_token_client(room, "ROLE_ADMIN", subject="host-7", name="Old name")

    response = admin.put(f"{B}/chatrooms/users", {"custom_name": "New name"}, format="json")

    assert response.status_code == 200
    refreshed = anon_client.post(
        f"{B}/chatrooms/tokens:refresh",
        {"refresh_token": admin.issued.refresh_token},
        format="json",
    )
    token = refreshed.json()["token"]
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    config = anon_client.get(f"{B}/chatrooms/config").json()
    assert config["user"]["custom_name"] == "New name"
    assert RefreshToken.objects.filter(subject="host-7", name="New name").exists()
    assert AuditLogEntry.objects.filter(action=AuditAction.USER_RENAME).count() == 1


def refreshed_name(anon_client, refresh_token: str) -> str:
    token = anon_client.post(
        f"{B}/chatrooms/tokens:refresh", {"refresh_token": refresh_token}, format="json"
    ).json()["token"]
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return anon_client.get(f"{B}/chatrooms/config").json()["user"]["custom_name"]


@pytest.mark.parametrize("role", ["ROLE_VIEWER", "ROLE_GUEST"])
def test_every_role_renames_itself_and_only_itself(make_token_client, room, anon_client, role):
    """The reference says admin; both SDKs offer renaming to every user (issue 12)."""
    me = make_token_client(room, role, subject="me-1", name="Old name")
    neighbour = make_token_client(room, role, subject="next-door", name="Neighbour")
    other_room = services.chatroom_create(actor=services.Actor.system("tests"))
    me_elsewhere = make_token_client(other_room, role, subject="me-1", name="Old name")

    # The body has no user to name: an `id` in it is an unknown field, ignored.
    body = {"custom_name": "New name", "id": "next-door"}
    response = me.put(f"{B}/chatrooms/users", body, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {}
    assert refreshed_name(anon_client, me.issued.refresh_token) == "New name"
    assert refreshed_name(anon_client, neighbour.issued.refresh_token) == "Neighbour"
    assert refreshed_name(anon_client, me_elsewhere.issued.refresh_token) == "Old name"
    entry = AuditLogEntry.objects.get(action=AuditAction.USER_RENAME)
    assert (entry.actor_kind, entry.actor_id, entry.room_id) == ("chatroom_token", "me-1", room.pk)
    assert (entry.target_type, entry.target_id) == ("user", "me-1")
    assert (entry.before, entry.after) == ({"custom_name": "Old name"}, {"custom_name": "New name"})


@pytest.mark.parametrize("body", [{}, {"custom_name": ""}, {"custom_name": "   "}])
def test_rename_needs_a_name(admin_token_client, body):
    response = admin_token_client.put(f"{B}/chatrooms/users", body, format="json")

    assert "custom_name" in field_violations(assert_status(response, 400, 3))


PIN = {
    "pinned_message": {
        "message": {
            "id": "m1",
            "text": "Welcome to the show",
            "sender": {"id": "s1", "device_id": "sd1", "custom_name": "Sam"},
        },
        "action_taker": {"custom_name": "Host Hana"},
    }
}


def pins(client) -> list[dict]:
    return client.get(f"{B}/chatrooms").json()["chatroom"]["pinned_messages"]


def test_pin_shows_the_snapshot_in_the_room_state(admin_token_client):
    response = admin_token_client.post(f"{B}/chatrooms/messages:pin", PIN, format="json")

    assert response.status_code == 200
    assert response.json() == {}
    (pin,) = pins(admin_token_client)
    assert pin["message"] == PIN["pinned_message"]["message"]
    assert pin["action_taker"]["custom_name"] == "Host Hana"
    assert pin["action_taker"]["id"] == "admin-1"


def test_pinning_twice_is_idempotent_and_unpin_removes(admin_token_client):
    admin_token_client.post(f"{B}/chatrooms/messages:pin", PIN, format="json")
    admin_token_client.post(f"{B}/chatrooms/messages:pin", PIN, format="json")
    assert len(pins(admin_token_client)) == 1

    response = admin_token_client.post(
        f"{B}/chatrooms/messages:unpin",
        {"unpinned_message": {"message": {"id": "m1"}}},
        format="json",
    )

    assert response.status_code == 200
    assert pins(admin_token_client) == []
    actions = list(AuditLogEntry.objects.values_list("action", flat=True))
    assert actions.count(AuditAction.MESSAGE_PIN) == 1
    assert actions.count(AuditAction.MESSAGE_UNPIN) == 1


def test_unpinning_a_message_that_is_not_pinned_is_404(admin_token_client):
    response = admin_token_client.post(
        f"{B}/chatrooms/messages:unpin",
        {"unpinned_message": {"message": {"id": "nope"}}},
        format="json",
    )

    assert_status(response, 404, NotFound.grpc_code)


def test_pins_are_limited_per_room(admin_token_client, room, system_actor):
    for index in range(services.MAX_PINS_PER_ROOM):
        services.message_pin(
            actor=system_actor, room=room, message=services.MessageSnapshot(id=f"m{index}")
        )

    response = admin_token_client.post(
        f"{B}/chatrooms/messages:pin",
        {"pinned_message": {"message": {"id": "one-too-many"}}},
        format="json",
    )

    body = assert_status(response, 429, ResourceExhausted.grpc_code)
    assert body["details"][-1]["reason"] == "TOO_MANY_PINS"
    assert PinnedMessage.objects.filter(room=room).count() == services.MAX_PINS_PER_ROOM


def test_pin_needs_a_message_id(admin_token_client):
    response = admin_token_client.post(
        f"{B}/chatrooms/messages:pin", {"pinned_message": {"message": {"text": "x"}}}, format="json"
    )

    assert "pinned_message.message.id" in field_violations(assert_status(response, 400, 3))
