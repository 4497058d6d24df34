"""The word filter on the realtime link: a held message reaches admins and no viewer,
and approving it delivers it to the room (issue 11)."""

import pytest

from chatrooms.models import ChatMessage, FilterStatus, Role
from chatrooms.wordfilter import services as wordfilter
from chatrooms.wordfilter.models import MatchMode
from tests.realtime.test_link import of_type, text

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def filtering(room, system_actor):
    dictionary = wordfilter.dictionary_create(
        actor=system_actor, name="Spam", match_mode=MatchMode.FUZZY
    )
    wordfilter.patterns_create(actor=system_actor, dictionary=dictionary, texts=["free coins"])
    wordfilter.room_dictionaries_set(
        actor=system_actor, room=room, dictionary_ids=[dictionary.pk], enabled=True
    )
    return dictionary


def test_a_held_message_reaches_admins_only_until_it_is_approved(
    worker, room, chat_clients, filtering, system_actor
):
    sender = chat_clients(room, Role.VIEWER, subject="sender", device_id="sender-device")
    viewer = chat_clients(room, Role.VIEWER, subject="bystander")
    admin = chat_clients(room, Role.ADMIN, subject="host")

    sender.send(text("get FR33 c.o.i.n.s now"))
    sender.send(text("hello all"))

    got = admin.messages(until=lambda ms: len(ms) >= 2)
    held = next(m for m in got if m["text_message"]["filtered"])
    assert held["text_message"]["text"] == "get FR33 c.o.i.n.s now"
    assert held["text_message"]["filter_hit_result"] == {
        "pattern_id": str(filtering.patterns.get().pk),
        "pattern_text": "free coins",
        "dictionary_id": str(filtering.pk),
        "dictionary_name": "Spam",
    }
    seen = viewer.messages(until=of_type("INTERACTION_TYPE_TEXT"))
    assert [m["text_message"]["text"] for m in seen] == ["hello all"]
    assert sender.messages()[0]["text_message"]["text"] == "hello all"  # the room's echo
    stored = ChatMessage.objects.get(pk=held["id"])
    assert (stored.filter_status, stored.sender_hidden) == (FilterStatus.HELD, True)

    wordfilter.filtered_message_approve(actor=system_actor, room=room, message_id=held["id"])

    [announced] = viewer.messages()
    assert announced["id"] == held["id"]
    assert announced["text_message"] == {"text": "get FR33 c.o.i.n.s now", "filtered": False}
    assert admin.messages()[0]["id"] == held["id"]
    assert viewer.nothing_for(0.3) == []
