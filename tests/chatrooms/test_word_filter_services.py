"""The word filter's services: holding messages in messages_send, and review decisions."""

import pytest

from chatrooms import services
from chatrooms.errors import FailedPrecondition, NotFound, ResourceExhausted
from chatrooms.models import AuditAction, AuditLogEntry, ChatMessage, FilterStatus, Role
from chatrooms.wordfilter import services as wordfilter
from chatrooms.wordfilter.models import Dictionary, MatchMode
from tests.chatrooms.test_messages_api import history, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def custom(system_actor, room):
    dictionary = wordfilter.dictionary_create(actor=system_actor, name="Spam")
    wordfilter.patterns_create(actor=system_actor, dictionary=dictionary, texts=["Buy Now"])
    wordfilter.room_dictionaries_set(
        actor=system_actor, room=room, dictionary_ids=[dictionary.pk], enabled=True
    )
    return dictionary


def test_the_three_builtins_are_loaded_from_the_word_lists():
    builtins = Dictionary.objects.filter(default=True).order_by("language")
    assert [(d.language, d.name) for d in builtins] == [
        ("en", "English"),
        ("ja", "Japanese"),
        ("zh", "Chinese"),
    ]
    english = builtins.get(language="en")
    assert english.patterns.filter(key="anal").exists()
    assert english.patterns.count() > 350
    # "s&m" becomes "s m"; the emoji line is left out (data/NOTICE.md).
    assert english.patterns.filter(text="s m").exists()
    ja = builtins.get(language="ja")
    assert ja.patterns.filter(text="グループ セックス").exists()


def test_a_matching_message_is_held_and_shown_to_its_sender_and_admins_only(
    custom, room, make_token_client
):
    sender = make_token_client(room, Role.VIEWER, subject="sender")
    bystander = make_token_client(room, Role.VIEWER, subject="bystander")
    admin = make_token_client(room, Role.ADMIN, subject="host")

    sent = text(sender, "BUY NOW").json()["message"]
    text(bystander, "buy now please")  # exact mode: the whole message only

    assert sent["text_message"] == {
        "text": "BUY NOW",
        "filtered": True,
        "filter_hit_result": {
            "pattern_id": str(custom.patterns.get().pk),
            "pattern_text": "Buy Now",
            "dictionary_id": str(custom.pk),
            "dictionary_name": "Spam",
        },
    }
    assert [m["text_message"]["text"] for m in history(bystander)] == ["buy now please"]
    assert [m["text_message"]["filtered"] for m in history(sender)] == [False, True]
    assert [m["text_message"]["filtered"] for m in history(admin)] == [False, True]


def test_approve_shows_it_to_everyone_and_an_unblock_does_not_show_a_held_one(
    custom, room, make_token_client, system_actor
):
    sender = make_token_client(room, Role.VIEWER, subject="sender")
    bystander = make_token_client(room, Role.VIEWER, subject="bystander")
    held_id = text(sender, "buy now").json()["message"]["id"]
    services.user_block(actor=system_actor, room=room, user_id="sender")
    services.user_unblock(actor=system_actor, room=room, user_id="sender")
    assert history(bystander) == []

    message = wordfilter.filtered_message_approve(actor=system_actor, room=room, message_id=held_id)

    assert message.filter_status == FilterStatus.APPROVED
    assert [m["text_message"] for m in history(bystander)] == [
        {"text": "buy now", "filtered": False}
    ]
    entry = AuditLogEntry.objects.filter(action=AuditAction.FILTER_APPROVE).get()
    assert entry.target_id == held_id
    assert entry.before["filter_status"] == "held"


def test_confirm_keeps_it_hidden_and_off_the_queue(custom, room, make_token_client, system_actor):
    sender = make_token_client(room, Role.VIEWER, subject="sender")
    held_id = text(sender, "buy now").json()["message"]["id"]
    assert [str(m.pk) for m in wordfilter_queue(room)] == [held_id]

    wordfilter.filtered_message_confirm(actor=system_actor, room=room, message_id=held_id)

    assert wordfilter_queue(room) == []
    assert ChatMessage.objects.get(pk=held_id).sender_hidden is True
    assert AuditLogEntry.objects.filter(action=AuditAction.FILTER_CONFIRM).count() == 1
    wordfilter.filtered_message_approve(actor=system_actor, room=room, message_id=held_id)
    with pytest.raises(FailedPrecondition):
        wordfilter.filtered_message_confirm(actor=system_actor, room=room, message_id=held_id)


def test_block_sender_confirms_and_blocks(custom, room, make_token_client, system_actor):
    sender = make_token_client(room, Role.VIEWER, subject="sender")
    held_id = text(sender, "buy now").json()["message"]["id"]

    wordfilter.filtered_message_block_sender(actor=system_actor, room=room, message_id=held_id)

    # As the next request would: the room read again (its state version moved with the
    # block; the test's transaction never commits, so no after-commit forgetting runs).
    room.refresh_from_db()
    assert services.is_user_blocked(room=room, user_id="sender")
    assert ChatMessage.objects.get(pk=held_id).filter_status == FilterStatus.CONFIRMED


def test_review_of_an_unfiltered_message_is_not_found(room, make_token_client, system_actor):
    sender = make_token_client(room, Role.VIEWER, subject="sender")
    message_id = text(sender, "hello").json()["message"]["id"]
    with pytest.raises(NotFound):
        wordfilter.filtered_message_approve(actor=system_actor, room=room, message_id=message_id)


def test_at_most_three_custom_dictionaries(system_actor):
    for name in ("a", "b", "c"):
        wordfilter.dictionary_create(actor=system_actor, name=name)
    with pytest.raises(ResourceExhausted):
        wordfilter.dictionary_create(actor=system_actor, name="d")


def test_the_test_box_names_pattern_dictionary_and_mode(system_actor, room):
    dictionary = wordfilter.dictionary_create(
        actor=system_actor, name="Fuzzy", match_mode=MatchMode.FUZZY
    )
    wordfilter.patterns_create(actor=system_actor, dictionary=dictionary, texts=["bad"])

    hit = wordfilter.filter_test(text="this is b.a.d", dictionaries=[dictionary])

    assert (hit.pattern_text, hit.dictionary_name, hit.match_mode) == (
        "bad",
        "Fuzzy",
        "MATCH_MODE_FUZZY",
    )
    assert wordfilter.filter_test(text="this is b.a.d", room=room) is None  # not enabled


def wordfilter_queue(room):
    from chatrooms.wordfilter import selectors

    return list(selectors.review_queue(room))
