"""Sticker messages on the realtime link: the worker stores and broadcasts a sticker of
an enabled pack with the server's `image` and `metadata`, and drops (counting the
reason) one it refuses or cannot read."""

import pytest

from chatrooms.models import ChatMessage, InteractionType, Role
from tests.chatrooms.stickers import enable, ready_pack
from tests.realtime.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def sticker(pack_id, sticker_id, **extra) -> dict:
    return {
        "type": "INTERACTION_TYPE_STICKER",
        "user": {"custom_name": "Vera"},
        "sticker": {"sticker_pack_id": pack_id, "sticker_id": sticker_id, **extra},
        "sent_at": "2024-05-01T12:00:00.000Z",
    }


def text(body: str) -> dict:
    return {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": body}}


def test_a_sticker_of_an_enabled_pack_reaches_the_room(
    media, worker, room, chat_clients, sticker_client, admin_token_client
):
    pack, stickers = ready_pack(sticker_client)
    enable(admin_token_client, pack["id"])
    sender = chat_clients(room, Role.VIEWER, subject="vera")
    receiver = chat_clients(room, Role.VIEWER)

    sender.send(sticker(pack["id"], stickers[1]["id"], metadata={"sticker_name": "forged"}))

    [message] = receiver.messages()
    assert message["type"] == "INTERACTION_TYPE_STICKER"
    assert message["user"]["id"] == "vera"
    assert message["sticker"]["sticker_id"] == stickers[1]["id"]
    assert message["sticker"]["metadata"] == {"sticker_pack_name": "Cats", "sticker_name": "wave"}
    assert message["sticker"]["image"]["thumbnails"][0]["width"] == 32
    wait_for(lambda: worker.stats["stored"] == 1)


def test_refused_and_malformed_stickers_are_dropped_and_counted(
    media, worker, room, chat_clients, sticker_client, admin_token_client
):
    enabled, enabled_stickers = ready_pack(sticker_client, "On")
    enable(admin_token_client, enabled["id"])
    disabled, disabled_stickers = ready_pack(sticker_client, "Off")
    sender = chat_clients(room, Role.VIEWER)
    receiver = chat_clients(room, Role.VIEWER)
    unknown = "00000000-0000-0000-0000-000000000000"

    sender.send(sticker(disabled["id"], disabled_stickers[0]["id"]))  # pack not enabled
    sender.send(sticker(enabled["id"], unknown))  # no such sticker
    sender.send(sticker(enabled["id"], disabled_stickers[0]["id"]))  # of another pack
    sender.send({"type": "INTERACTION_TYPE_STICKER", "sticker": {"sticker_id": "nope"}})
    sender.send({"type": "INTERACTION_TYPE_STICKER"})
    sender.send(text("after the bad ones"))

    [message] = receiver.messages()
    assert message["text_message"]["text"] == "after the bad ones"
    stats = worker.stats
    wait_for(lambda: stats["stored"] == 1)
    wait_for(lambda: stats["refused_STICKER_PACK_NOT_ENABLED"] == 1)
    wait_for(lambda: stats["refused_STICKER_NOT_FOUND"] == 2)
    assert stats["dropped_wrong_field_type"] == 2
    assert not ChatMessage.objects.filter(type=InteractionType.STICKER).exists()
    assert enabled_stickers  # the enabled pack's stickers were there to send
