"""INTERACTION_TYPE_STICKER messages over REST (the realtime link: tests/realtime):
the server fills `image` and `metadata`; a sticker that is unknown, not completed, of
another pack, or of a pack the room has not enabled is refused."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatrooms.models import ChatMessage, InteractionType
from tests.chatrooms.helpers import assert_status, same_json_shape
from tests.chatrooms.stickers import API, create_pack, enable, png, ready_pack, register_stickers

pytestmark = pytest.mark.django_db


def sticker_message(pack_id, sticker_id) -> dict:
    return {
        "type": "INTERACTION_TYPE_STICKER",
        "sticker": {"sticker_pack_id": pack_id, "sticker_id": sticker_id},
        "sent_at": "2024-05-01T12:00:00.000Z",
    }


def send(client, body):
    return client.post(f"{API}/chatrooms/messages", body, format="json")


@pytest.fixture
def enabled_pack(media, sticker_client, admin_token_client):
    pack, stickers = ready_pack(sticker_client)
    enable(admin_token_client, pack["id"])
    return pack, stickers


def test_a_sticker_message_carries_the_stickers_image_and_names(enabled_pack, viewer_token_client):
    pack, stickers = enabled_pack

    response = send(viewer_token_client, sticker_message(pack["id"], stickers[0]["id"]))

    assert response.status_code == 200, response.content
    message = response.json()["message"]
    assert message["type"] == "INTERACTION_TYPE_STICKER"
    example = {
        "sticker_pack_id": "",
        "sticker_id": "",
        "image": {"thumbnails": [{"uri": "", "width": 0, "height": 0}]},
        "metadata": {"sticker_pack_name": "", "sticker_name": ""},
    }
    assert same_json_shape(message["sticker"], example) == []
    assert message["sticker"]["metadata"] == {"sticker_pack_name": "Cats", "sticker_name": "smile"}
    assert message["sticker"]["image"]["thumbnails"][0]["uri"].endswith(
        stickers[0]["image"]["thumbnails"][0]["uri"].removeprefix("http://testserver")
    )
    history = viewer_token_client.get(f"{API}/chatrooms/messages").json()["messages"]
    assert history[0]["sticker"] == message["sticker"]


def test_what_the_client_says_about_image_and_metadata_is_ignored(
    enabled_pack, viewer_token_client
):
    pack, stickers = enabled_pack
    body = sticker_message(pack["id"], stickers[0]["id"])
    body["sticker"]["metadata"] = {"sticker_pack_name": "forged", "sticker_name": "forged"}

    response = send(viewer_token_client, body)

    assert response.json()["message"]["sticker"]["metadata"]["sticker_name"] == "smile"


def test_a_sticker_of_a_pack_the_room_has_not_enabled_is_refused(
    media, sticker_client, viewer_token_client
):
    pack, stickers = ready_pack(sticker_client)

    response = send(viewer_token_client, sticker_message(pack["id"], stickers[0]["id"]))

    body = assert_status(response, 400, 9)
    assert body["details"][-1]["reason"] == "STICKER_PACK_NOT_ENABLED"
    assert not ChatMessage.objects.filter(type=InteractionType.STICKER).exists()


def test_a_disabled_pack_stops_its_stickers(enabled_pack, viewer_token_client, admin_token_client):
    pack, stickers = enabled_pack
    enable(admin_token_client, pack["id"], enabled=False)

    response = send(viewer_token_client, sticker_message(pack["id"], stickers[0]["id"]))

    assert_status(response, 400, 9)


def test_unknown_mismatched_and_uncompleted_stickers_are_not_found(
    enabled_pack, sticker_client, admin_token_client, viewer_token_client
):
    pack, stickers = enabled_pack
    other, other_stickers = ready_pack(sticker_client, "Other")
    enable(admin_token_client, other["id"])
    [pending] = register_stickers(sticker_client, pack["id"], [("later.png", png())])
    cases = [
        sticker_message(pack["id"], "00000000-0000-0000-0000-000000000000"),
        sticker_message(pack["id"], other_stickers[0]["id"]),  # of another pack
        sticker_message(other["id"], stickers[0]["id"]),
        sticker_message(pack["id"], pending["sticker"]["id"]),  # not completed
    ]
    for body in cases:
        response = send(viewer_token_client, body)

        assert assert_status(response, 404, 5)["details"][-1]["reason"] == "STICKER_NOT_FOUND"
    assert not ChatMessage.objects.filter(type=InteractionType.STICKER).exists()


@pytest.mark.parametrize(
    "sticker",
    [
        None,
        {},
        {"sticker_pack_id": "nope", "sticker_id": "nope"},
        {"sticker_pack_id": 5, "sticker_id": 6},
    ],
)
def test_malformed_sticker_messages_are_invalid(media, viewer_token_client, sticker):
    body = {"type": "INTERACTION_TYPE_STICKER"}
    if sticker is not None:
        body["sticker"] = sticker

    assert_status(send(viewer_token_client, body), 400, 3)


def test_a_muted_room_refuses_a_viewers_sticker_before_looking_it_up(
    enabled_pack, viewer_token_client, admin_token_client
):
    pack, stickers = enabled_pack
    admin_token_client.post(f"{API}/chatrooms:mute", {}, format="json")

    response = send(viewer_token_client, sticker_message(pack["id"], stickers[0]["id"]))

    assert assert_status(response, 400, 9)["details"][-1]["reason"] == "CHATROOM_MUTED"


def test_the_server_sender_can_send_a_sticker_with_an_api_key(enabled_pack, api_key_client, room):
    pack, stickers = enabled_pack
    body = {**sticker_message(pack["id"], stickers[1]["id"]), "user": {"id": "bot"}}

    response = api_key_client.post(f"{API}/chatrooms/{room.id}/messages", body, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["message"]["sticker"]["metadata"]["sticker_name"] == "wave"


def test_the_sticker_step_adds_two_queries_to_an_unfiltered_send(
    enabled_pack, viewer_token_client, sticker_client
):
    pack, stickers = enabled_pack
    create_pack(sticker_client, "Unrelated")
    send(viewer_token_client, sticker_message(pack["id"], stickers[0]["id"]))  # warm caches
    with CaptureQueriesContext(connection) as sticker_queries:
        send(viewer_token_client, sticker_message(pack["id"], stickers[1]["id"]))
    with CaptureQueriesContext(connection) as text_queries:
        send(viewer_token_client, {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": "hi"}})

    # The sticker with its pack and image; the room's enabled packs among them. A text
    # pays one query that a sticker does not: the versions of the room's enabled
    # word-filter dictionaries (a sticker has no text to filter).
    assert len(sticker_queries) == len(text_queries) - 1 + 2
