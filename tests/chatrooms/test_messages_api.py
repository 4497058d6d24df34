"""Sending messages (extension), history with its paging contract, deletion."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from chatrooms import services
from chatrooms.errors import AlreadyExists, FailedPrecondition, NotFound
from chatrooms.models import (
    AuditAction,
    AuditLogEntry,
    ChatMessage,
    CounterIncrement,
    CustomCounter,
    Role,
)
from tests import factories
from tests.chatrooms.helpers import TIMESTAMP, assert_status, field_violations
from tests.conftest import roll_up

B = "/bv/chatroom/v1"
URL = f"{B}/chatrooms/messages"

pytestmark = pytest.mark.django_db


def text(client, body="hello", **extra):
    return client.post(
        URL,
        {
            "type": "INTERACTION_TYPE_TEXT",
            "user": {"custom_name": "Vee"},
            "text_message": {"text": body},
            "sent_at": "2026-01-01T10:00:00.123Z",
            **extra,
        },
        format="json",
    )


def history(client, **params) -> list[dict]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()["messages"]


def test_send_text_stamps_id_times_and_user_from_the_token(viewer_token_client):
    response = text(
        viewer_token_client, user={"custom_name": "Vee", "id": "forged", "is_admin": True}
    )

    assert response.status_code == 200
    message = response.json()["message"]
    uuid.UUID(message["id"])
    assert message["type"] == "INTERACTION_TYPE_TEXT"
    assert message["text_message"] == {"text": "hello", "filtered": False}
    assert message["user"] == {
        "id": "viewer-1",
        "device_id": "viewer-device",
        "custom_name": "Vee",
        "is_admin": False,
        "is_guest": False,
        "blocked": False,
    }
    assert message["sent_at"] == "2026-01-01T10:00:00.123Z"
    assert TIMESTAMP.match(message["received_at"])
    assert message["created_at"] == message["received_at"]


def test_a_client_chosen_id_is_kept_and_cannot_be_reused(viewer_token_client):
    message_id = str(uuid.uuid4())

    first = text(viewer_token_client, id=message_id)
    second = text(viewer_token_client, id=message_id)

    assert first.json()["message"]["id"] == message_id
    assert_status(second, 409, AlreadyExists.grpc_code)
    assert ChatMessage.objects.count() == 1


def test_custom_message_with_incr_adds_to_the_counter(viewer_token_client, room):
    response = viewer_token_client.post(
        URL,
        {
            "type": "INTERACTION_TYPE_CUSTOM",
            "custom_message": {"value": '{"emoji":"❤"}', "incr": {"key": "heart", "value": 3}},
        },
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["message"]["custom_message"] == {
        "value": '{"emoji":"❤"}',
        "incr": {"key": "heart", "value": 3},
    }
    assert CounterIncrement.objects.filter(room=room, key="heart", value=3).exists()
    roll_up(room)
    state = viewer_token_client.get(f"{B}/chatrooms").json()["chatroom"]
    heart = next(c for c in state["custom_counters"] if c["key"] == "heart")
    assert (heart["value"], heart["version_number"]) == (3, "1")


@pytest.mark.parametrize(
    ("incr", "field"),
    [
        ({"key": "unknown", "value": 1}, "custom_message.incr.key"),
        ({"key": "like", "value": 0}, "custom_message.incr.value"),
        ({"key": "like", "value": services.MAX_INCREMENT + 1}, "custom_message.incr.value"),
        ({"key": "like", "value": "1"}, "custom_message.incr.value"),
        ({"key": "like"}, "custom_message.incr.value"),
    ],
)
def test_bad_increments_are_400_and_change_nothing(viewer_token_client, room, incr, field):
    response = viewer_token_client.post(
        URL, {"type": "INTERACTION_TYPE_CUSTOM", "custom_message": {"incr": incr}}, format="json"
    )

    assert field in field_violations(assert_status(response, 400, 3))
    assert ChatMessage.objects.count() == 0
    assert not CustomCounter.objects.filter(room=room, value__gt=0).exists()


def test_a_disabled_counter_takes_no_increments(viewer_token_client, room, system_actor):
    services.custom_counters_update(actor=system_actor, room=room, keys=["like"])

    response = viewer_token_client.post(
        URL,
        {
            "type": "INTERACTION_TYPE_CUSTOM",
            "custom_message": {"incr": {"key": "heart", "value": 1}},
        },
        format="json",
    )

    assert_status(response, 400, 3)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "INTERACTION_TYPE_TEXT"}, "text_message"),
        ({"type": "INTERACTION_TYPE_CUSTOM"}, "custom_message"),
        ({"type": "INTERACTION_TYPE_MUTE"}, "type"),
        ({"text_message": {"text": "x"}}, "type"),
        (
            {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": "x" * 2001}},
            "text_message.text",
        ),
        ({"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": ""}}, "text_message.text"),
        (
            {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": "x"}, "id": "not-a-uuid"},
            "id",
        ),
    ],
)
def test_invalid_messages(viewer_token_client, body, field):
    response = viewer_token_client.post(URL, body, format="json")

    assert field in field_violations(assert_status(response, 400, 3))


def test_one_requests_body_or_errors_never_reach_the_next(viewer_token_client):
    # The input serializers are kept and re-run per thread (api.views._input_serializer):
    # each request is judged on its own body alone, whatever came before.
    chosen = str(uuid.uuid4())
    bad_id = {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": "x"}, "id": "nope"}
    no_text = {"type": "INTERACTION_TYPE_TEXT"}

    first = viewer_token_client.post(URL, bad_id, format="json")
    second = viewer_token_client.post(URL, no_text, format="json")
    with_id = text(viewer_token_client, "mine", id=chosen)
    without_id = text(viewer_token_client, "fine")
    third = viewer_token_client.post(URL, no_text, format="json")

    assert set(field_violations(assert_status(first, 400, 3))) == {"id"}
    assert set(field_violations(assert_status(second, 400, 3))) == {"text_message"}
    assert with_id.json()["message"]["id"] == chosen
    assert without_id.status_code == 200
    assert without_id.json()["message"]["id"] != chosen
    assert without_id.json()["message"]["text_message"]["text"] == "fine"
    assert set(field_violations(assert_status(third, 400, 3))) == {"text_message"}


def test_muted_room_takes_messages_only_from_admins(
    viewer_token_client, admin_token_client, room, system_actor
):
    services.chatroom_set_muted(actor=system_actor, room=room, muted=True)

    refused = text(viewer_token_client)
    allowed = text(admin_token_client)

    body = assert_status(refused, 400, FailedPrecondition.grpc_code)
    assert body["details"][-1]["reason"] == "CHATROOM_MUTED"
    assert allowed.status_code == 200


def test_a_blocked_users_message_is_kept_for_admins_and_the_user_only(
    viewer_token_client, admin_token_client, make_token_client, room, system_actor
):
    services.user_block(actor=system_actor, room=room, user_id="viewer-1")

    response = text(viewer_token_client)

    assert response.status_code == 200  # as over MQTT: stored, shown to admins and to them
    assert response.json()["message"]["user"]["blocked"] is True
    another_viewer = make_token_client(room, Role.VIEWER, subject="viewer-2")
    assert history(another_viewer) == []
    assert [m["user"]["blocked"] for m in history(viewer_token_client)] == [True]
    assert [m["user"]["blocked"] for m in history(admin_token_client)] == [True]


def test_a_blocked_guest_is_recognised_by_device(make_token_client, room, system_actor):
    services.user_block(
        actor=system_actor, room=room, user_id="old-guest-id", device_id="guest-phone"
    )
    fresh_identity = make_token_client(room, Role.GUEST, device_id="guest-phone")

    assert text(fresh_identity).json()["message"]["user"]["blocked"] is True


def make_history(room, count, start=None):
    start = services.wire_time(start or timezone.now() - timedelta(hours=1))
    return [
        factories.ChatMessageFactory(
            room=room, text=f"m{i}", received_at=start + timedelta(seconds=i)
        )
        for i in range(count)
    ]


def test_history_is_newest_first_with_a_default_limit_of_10(viewer_token_client, room):
    make_history(room, 15)

    page = history(viewer_token_client)

    assert [m["text_message"]["text"] for m in page] == [f"m{i}" for i in range(14, 4, -1)]


def test_history_pages_back_with_before_at(viewer_token_client, room):
    make_history(room, 25)
    seen = []
    params = {"limit": 10}
    while True:
        page = history(viewer_token_client, **params)
        if not page:
            break
        seen += [m["text_message"]["text"] for m in page]
        params["before_at"] = page[-1]["received_at"]

    assert seen == [f"m{i}" for i in range(24, -1, -1)]


def test_history_from_oldest_pages_forward_with_after_at(viewer_token_client, room):
    make_history(room, 12)

    first = history(viewer_token_client, from_oldest="true", limit=5)
    second = history(
        viewer_token_client, from_oldest="true", limit=5, after_at=first[-1]["received_at"]
    )

    assert [m["text_message"]["text"] for m in first + second] == [f"m{i}" for i in range(10)]


def test_history_limit_is_capped_at_100(viewer_token_client, room):
    make_history(room, 120)

    assert len(history(viewer_token_client, limit=1000)) == 100


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": "x"}, {"before_at": "yesterday"}, {"types": "INTERACTION_TYPE_NOPE"}],
)
def test_bad_history_parameters_are_400(viewer_token_client, params):
    assert_status(viewer_token_client.get(URL, params), 400, 3)


def test_history_filters_by_types(viewer_token_client, room):
    make_history(room, 2)
    factories.ChatMessageFactory(
        room=room,
        type="INTERACTION_TYPE_CUSTOM",
        text="",
        payload={"custom_message": {"value": "c"}},
    )

    page = history(viewer_token_client, types="INTERACTION_TYPE_CUSTOM")

    assert [m["type"] for m in page] == ["INTERACTION_TYPE_CUSTOM"]
    assert page[0]["custom_message"] == {"value": "c"}


def test_history_is_per_room(viewer_token_client, room):
    make_history(room, 1)
    make_history(factories.ChatroomFactory(), 3)

    assert len(history(viewer_token_client)) == 1


def test_blocked_users_messages_are_shown_only_to_admins_and_to_them(
    room, make_token_client, system_actor
):
    spammer = make_token_client(room, Role.VIEWER, subject="spammer")
    other = make_token_client(room, Role.VIEWER, subject="bystander")
    admin = make_token_client(room, Role.ADMIN, subject="host")
    text(spammer, "buy followers")
    text(other, "nice show")
    services.user_block(actor=system_actor, room=room, user_id="spammer")

    assert [m["text_message"]["text"] for m in history(other)] == ["nice show"]
    seen_by_spammer = history(spammer)
    assert len(seen_by_spammer) == 2
    seen_by_admin = history(admin)
    assert len(seen_by_admin) == 2
    flagged = {m["text_message"]["text"]: m["user"]["blocked"] for m in seen_by_admin}
    assert flagged == {"buy followers": True, "nice show": False}


def test_delete_hides_the_message_from_non_admins(admin_token_client, viewer_token_client):
    message_id = text(viewer_token_client, "oops").json()["message"]["id"]

    response = admin_token_client.delete(
        f"{URL}/{message_id}?action_taker.custom_name=Mod+Max&received_at=2026-01-01T00:00:00Z"
    )

    assert response.status_code == 200
    assert response.json() == {}
    assert history(viewer_token_client) == []
    assert [m["id"] for m in history(admin_token_client)] == [message_id]
    message = ChatMessage.objects.get(pk=message_id)
    assert (message.deleted_by_id, message.deleted_by_custom_name) == ("admin-1", "Mod Max")
    entry = AuditLogEntry.objects.get(action=AuditAction.MESSAGE_DELETE)
    assert entry.target_id == message_id
    assert entry.before["text"] == "oops"


def test_deleting_a_pinned_message_unpins_it(admin_token_client, viewer_token_client):
    message_id = text(viewer_token_client, "pinned, then regretted").json()["message"]["id"]
    pin = {"pinned_message": {"message": {"id": message_id, "text": "pinned, then regretted"}}}
    pinned = admin_token_client.post(f"{B}/chatrooms/messages:pin", pin, format="json")
    assert pinned.status_code == 200

    assert admin_token_client.delete(f"{URL}/{message_id}").status_code == 200

    state = viewer_token_client.get(f"{B}/chatrooms").json()["chatroom"]
    assert state["pinned_messages"] == []
    unpinned = AuditLogEntry.objects.get(action=AuditAction.MESSAGE_UNPIN)
    assert (unpinned.target_id, unpinned.reason) == (message_id, "The message was deleted.")


def test_deleting_twice_or_an_unknown_message_is_404(admin_token_client, viewer_token_client):
    message_id = text(viewer_token_client).json()["message"]["id"]
    admin_token_client.delete(f"{URL}/{message_id}")

    assert_status(admin_token_client.delete(f"{URL}/{message_id}"), 404, NotFound.grpc_code)
    assert_status(admin_token_client.delete(f"{URL}/{uuid.uuid4()}"), 404, NotFound.grpc_code)
    assert_status(admin_token_client.delete(f"{URL}/not-a-uuid"), 400, 3)


def test_hidden_messages_do_not_shorten_a_page(room, make_token_client, system_actor):
    start = services.wire_time(timezone.now() - timedelta(hours=1))
    for i in range(40):  # a spammer's burst between two stretches of real chat
        sender = "spammer" if 5 <= i < 35 else f"fan{i}"
        factories.ChatMessageFactory(
            room=room, user_id=sender, text=f"m{i}", received_at=start + timedelta(seconds=i)
        )
    services.user_block(actor=system_actor, room=room, user_id="spammer")
    viewer = make_token_client(room, Role.VIEWER, subject="viewer")

    seen, params = [], {"limit": 4}
    while page := history(viewer, **params):
        seen += [m["text_message"]["text"] for m in page]
        assert len(page) == 4 or not history(viewer, limit=4, before_at=page[-1]["received_at"])
        params["before_at"] = page[-1]["received_at"]

    expected = [f"m{i}" for i in range(39, -1, -1) if not 5 <= i < 35]
    assert seen == expected
    admin = make_token_client(room, Role.ADMIN, subject="host")
    assert len(history(admin, limit=100)) == 40


def test_a_counter_stops_at_the_largest_int32(viewer_token_client, room):
    # Its wire type (chat.v1.CustomCounter.value) is int32: issue 9, #4.
    room.custom_counters.filter(key="heart").update(value=2**31 - 10)
    incr = {"type": "INTERACTION_TYPE_CUSTOM", "custom_message": {"incr": {"key": "heart"}}}
    incr["custom_message"]["incr"]["value"] = 1000
    assert viewer_token_client.post(URL, incr, format="json").status_code == 200
    roll_up(room)

    state = viewer_token_client.get(f"{B}/chatrooms").json()["chatroom"]
    heart = next(c for c in state["custom_counters"] if c["key"] == "heart")
    assert heart["value"] == 2**31 - 1
