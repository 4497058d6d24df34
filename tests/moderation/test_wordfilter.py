"""The word filter in the console (issue 11): the Word filter page and a dictionary's
page, the test boxes, a room's dictionaries and held count, and its review queue.

Moderators see and test and review; room admins and superusers change dictionaries
and which ones a room uses. Every form's bad input is a message, never a 500, and
changes nothing.
"""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from chatrooms import services
from chatrooms.auth import Actor
from chatrooms.models import (
    ActorKind,
    AuditAction,
    AuditLogEntry,
    AuditSource,
    BlockedUser,
    ChatMessage,
    ChatStatus,
    FilterStatus,
    InteractionType,
)
from chatrooms.wordfilter import services as wordfilter
from chatrooms.wordfilter.models import (
    MAX_CUSTOM_DICTIONARIES,
    ChatroomDictionary,
    Dictionary,
    MatchMode,
    Pattern,
)
from moderation.views.wordfilter import PATTERNS_PAGE_SIZE
from tests import factories

pytestmark = pytest.mark.django_db

HOME = reverse("moderation:wordfilter")


def viewer(name: str) -> Actor:
    return Actor(
        kind=ActorKind.CHATROOM_TOKEN,
        source=AuditSource.API,
        id=f"viewer-{name.lower()}",
        name=name,
        device_id=f"{name.lower()}-phone",
    )


def send(room, text: str, name: str = "Ben") -> ChatMessage:
    return services.message_send(
        actor=viewer(name), room=room, type=InteractionType.TEXT, sent_at=timezone.now(), text=text
    )


@pytest.fixture
def spam(system_actor):
    """A custom dictionary, whole-word mode, with two patterns."""
    dictionary = wordfilter.dictionary_create(
        actor=system_actor, name="Spam", match_mode=MatchMode.WORD
    )
    wordfilter.patterns_create(actor=system_actor, dictionary=dictionary, texts=["cheap", "promo"])
    return dictionary


@pytest.fixture
def filtered_room(room, spam, system_actor):
    """A room with ``spam`` enabled and one held message from Ben."""
    wordfilter.room_dictionaries_set(
        actor=system_actor, room=room, dictionary_ids=[spam.pk], enabled=True
    )
    send(room, "BUY CHEAP FOLLOWERS")
    return room


def held(room) -> ChatMessage:
    return ChatMessage.objects.get(room=room, filter_status=FilterStatus.HELD)


def dictionary_url(name: str, dictionary) -> str:
    return reverse(f"moderation:{name}", kwargs={"dictionary_id": dictionary.pk})


def room_url(name: str, room) -> str:
    return reverse(f"moderation:{name}", kwargs={"room_id": room.pk})


def flash(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def follow_flash(client, response) -> str:
    """The page the action redirected to, with its messages."""
    assert response.status_code == 302, response.status_code
    return client.get(response["Location"]).content.decode()


def audit_count() -> int:
    return AuditLogEntry.objects.count()


# --- Permissions ---------------------------------------------------------------------------

# The permission matrix (anonymous, no role, Moderator, Room admin, superuser) of every
# view here is in test_permissions.py, with the rest of the console's.


def test_moderators_see_no_forms_that_change_dictionaries(moderator_client, spam, room):
    home = moderator_client.get(HOME).content.decode()
    page = moderator_client.get(dictionary_url("dictionary", spam)).content.decode()
    room_page = moderator_client.get(room_url("room", room)).content.decode()

    assert "New dictionary" not in home
    for action in ("patterns_add", "pattern_delete", "patterns_upload", "dictionary_edit"):
        assert dictionary_url(action, spam) not in page
    assert room_url("room_dictionary_set", room) not in room_page
    assert "Spam" in room_page  # but they see which dictionaries the room uses


def test_the_main_navigation_has_the_word_filter(moderator_client):
    page = moderator_client.get(HOME).content.decode()

    assert f'<a href="{HOME}" aria-current="page">Word filter</a>' in page


# --- The Word filter page -----------------------------------------------------------------


def test_the_page_lists_dictionaries_with_counts_built_ins_marked(moderator_client, spam, room):
    wordfilter.room_dictionaries_set(
        actor=Actor.system(), room=room, dictionary_ids=[spam.pk], enabled=True
    )
    response = moderator_client.get(HOME)

    rows = response.context["dictionaries"]
    assert [d.default for d in rows] == [True, True, True, False]
    spam_row = rows[-1]
    assert (spam_row.pattern_count, spam_row.room_count) == (2, 1)
    html = response.content.decode()
    assert html.count("built-in, read-only") == 3
    assert dictionary_url("dictionary", spam) in html


def test_the_test_box_finds_the_pattern_dictionary_and_mode(moderator_client, spam):
    response = moderator_client.get(HOME, {"text": "so cheap today"})

    outcome = response.context["outcome"]
    assert outcome["hit"].pattern_text == "cheap"
    assert outcome["hit"].dictionary_name == "Spam"
    html = response.content.decode()
    assert "Would be held" in html
    assert "“cheap”" in html and "whole word" in html


def test_the_test_box_says_when_nothing_matches(moderator_client, spam):
    response = moderator_client.get(HOME, {"text": "a perfectly nice message"})

    assert response.context["outcome"]["hit"] is None
    assert "Not filtered" in response.content.decode()


@pytest.mark.parametrize("text", ["", "   ", "x" * 1001])
def test_the_test_box_refuses_an_empty_or_overlong_message(moderator_client, text):
    response = moderator_client.get(HOME, {"text": text})

    assert response.status_code == 200
    assert response.context["outcome"] is None
    assert 'class="field-error"' in response.content.decode()


def test_the_page_runs_a_fixed_number_of_queries(
    moderator_client, system_actor, room, django_assert_num_queries
):
    # 1 session, 2 user, 3 the user's permissions, 4 their groups' permissions,
    # 5 the dictionaries with their pattern counts, 6 how many rooms use each.
    queries = 6
    with django_assert_num_queries(queries):
        moderator_client.get(HOME)
    for index in range(MAX_CUSTOM_DICTIONARIES):
        dictionary = wordfilter.dictionary_create(actor=system_actor, name=f"D{index}")
        wordfilter.patterns_create(actor=system_actor, dictionary=dictionary, texts=["a", "b"])
        wordfilter.room_dictionaries_set(
            actor=system_actor, room=room, dictionary_ids=[dictionary.pk], enabled=True
        )
    with django_assert_num_queries(queries):
        response = moderator_client.get(HOME)
    assert len(response.context["dictionaries"]) == 3 + MAX_CUSTOM_DICTIONARIES


# --- Dictionaries ---------------------------------------------------------------------------


def test_a_room_admin_creates_a_dictionary_and_lands_on_it(room_admin_client, room_admin):
    response = room_admin_client.submit(
        reverse("moderation:dictionary_new"),
        {"name": "Brand names", "description": "Rivals", "match_mode": MatchMode.FUZZY},
        page=HOME,
    )

    dictionary = Dictionary.objects.get(name="Brand names")
    assert response["Location"] == dictionary_url("dictionary", dictionary)
    assert dictionary.match_mode == MatchMode.FUZZY
    entry = AuditLogEntry.objects.get(action=AuditAction.DICTIONARY_CREATE)
    assert (entry.actor_user, entry.source) == (room_admin, AuditSource.CONSOLE)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "", "match_mode": MatchMode.EXACT}, "A dictionary needs a name."),
        ({"name": "x" * 30, "match_mode": MatchMode.EXACT}, "Ensure this value has at most 29"),
        ({"name": "Ok", "match_mode": "MATCH_MODE_REGEX"}, "Select a valid choice"),
    ],
)
def test_creating_a_dictionary_refuses_bad_input(room_admin_client, data, message):
    before = audit_count()
    response = room_admin_client.submit(reverse("moderation:dictionary_new"), data, page=HOME)

    assert response.status_code == 302
    assert any(message in text for text in flash(response)), flash(response)
    assert not Dictionary.objects.filter(default=False).exists()
    assert audit_count() == before


def test_a_fourth_custom_dictionary_is_refused_with_the_limit(room_admin_client, system_actor):
    for index in range(MAX_CUSTOM_DICTIONARIES):
        wordfilter.dictionary_create(actor=system_actor, name=f"D{index}")

    response = room_admin_client.submit(
        reverse("moderation:dictionary_new"),
        {"name": "One more", "match_mode": MatchMode.EXACT},
        page=HOME,
    )

    assert f"At most {MAX_CUSTOM_DICTIONARIES} custom dictionaries" in follow_flash(
        room_admin_client, response
    )
    assert Dictionary.objects.filter(default=False).count() == MAX_CUSTOM_DICTIONARIES


def test_a_room_admin_renames_a_dictionary_and_changes_its_mode(room_admin_client, spam):
    page = dictionary_url("dictionary", spam)
    room_admin_client.submit(
        dictionary_url("dictionary_edit", spam),
        {"name": "Spam words", "description": "", "match_mode": MatchMode.FUZZY},
        page=page,
    )

    spam.refresh_from_db()
    assert (spam.name, spam.match_mode) == ("Spam words", MatchMode.FUZZY)
    assert AuditLogEntry.objects.filter(action=AuditAction.DICTIONARY_UPDATE).count() == 1


def test_a_built_in_keeps_its_name_but_takes_a_match_mode(room_admin_client):
    english = Dictionary.objects.get(default=True, language="en")
    page = dictionary_url("dictionary", english)
    html = room_admin_client.get(page).content.decode()
    assert 'name="name"' not in html  # only the mode is offered
    assert dictionary_url("patterns_add", english) not in html
    assert dictionary_url("dictionary_delete", english) not in html

    room_admin_client.submit(
        dictionary_url("dictionary_edit", english),
        {"name": "Renamed", "match_mode": MatchMode.WORD},
        page=page,
    )

    english.refresh_from_db()
    assert (english.name, english.match_mode) == ("English", MatchMode.WORD)


def test_a_built_in_cannot_be_deleted_or_changed(room_admin_client):
    english = Dictionary.objects.get(default=True, language="en")
    page = dictionary_url("dictionary", english)
    count, before = english.patterns.count(), audit_count()

    for action, data in [
        ("dictionary_delete", {"confirm": "1"}),
        ("patterns_add", {"patterns": "newword"}),
        ("pattern_delete", {"pattern_id": english.patterns.first().pk}),
    ]:
        response = room_admin_client.submit(dictionary_url(action, english), data, page=page)
        assert response.status_code == 302, action
        assert any("read-only" in text for text in flash(response)), (action, flash(response))
    upload = room_admin_client.submit(
        dictionary_url("patterns_upload", english),
        {"file": SimpleUploadedFile("p.csv", b"a\nb\n", content_type="text/csv")},
        page=page,
    )
    assert any("read-only" in text for text in flash(upload))
    assert english.patterns.count() == count
    assert audit_count() == before


def test_deleting_a_dictionary_asks_first(room_admin_client, spam):
    page = dictionary_url("dictionary", spam)
    asked = room_admin_client.submit(dictionary_url("dictionary_delete", spam), {}, page=page)
    assert asked.status_code == 200
    assert "Delete the dictionary “Spam”?" in asked.content.decode()
    assert Dictionary.objects.filter(pk=spam.pk).exists()

    done = room_admin_client.submit(
        dictionary_url("dictionary_delete", spam), {"confirm": "1"}, page=page
    )

    assert done["Location"] == HOME
    assert not Dictionary.objects.filter(pk=spam.pk).exists()
    assert AuditLogEntry.objects.filter(action=AuditAction.DICTIONARY_DELETE).count() == 1


def test_an_unknown_dictionary_is_a_404_page(moderator_client, room_admin_client):
    missing = reverse("moderation:dictionary", kwargs={"dictionary_id": uuid.uuid4()})

    assert moderator_client.get(missing).status_code == 404
    edit = reverse("moderation:dictionary_edit", kwargs={"dictionary_id": uuid.uuid4()})
    assert room_admin_client.submit(edit, {}, page=HOME).status_code == 404


# --- Patterns ---------------------------------------------------------------------------------


def test_a_room_admin_adds_patterns_one_per_line_or_with_commas(room_admin_client, spam):
    page = dictionary_url("dictionary", spam)
    response = room_admin_client.submit(
        dictionary_url("patterns_add", spam), {"patterns": "scam\r\nfree coins, bot"}, page=page
    )

    assert response.status_code == 302
    # (one batch shares its time: within it, patterns are in id order)
    assert set(spam.patterns.values_list("text", flat=True)) == {
        "cheap",
        "promo",
        "scam",
        "free coins",
        "bot",
    }
    assert "Added 3 patterns." in flash(response)


@pytest.mark.parametrize(
    "patterns, message",
    [
        ("", "This field is required."),
        (" , \n ", "Type at least one pattern."),
        ("bad!word", "A pattern holds letters and digits"),
        ("x" * 41, "A pattern is at most 40 characters."),
        ("CHEAP", "The dictionary already has cheap."),
        ("new, New", "The same pattern twice"),
    ],
)
def test_adding_patterns_refuses_bad_input_and_adds_none(
    room_admin_client, spam, patterns, message
):
    before = audit_count()
    response = room_admin_client.submit(
        dictionary_url("patterns_add", spam),
        {"patterns": patterns},
        page=dictionary_url("dictionary", spam),
    )

    assert response.status_code == 302
    assert any(message in text for text in flash(response)), flash(response)
    assert spam.patterns.count() == 2
    assert audit_count() == before


def test_a_room_admin_removes_a_pattern(room_admin_client, spam):
    cheap = spam.patterns.get(text="cheap")
    response = room_admin_client.submit(
        dictionary_url("pattern_delete", spam),
        {"pattern_id": cheap.pk},
        page=dictionary_url("dictionary", spam),
    )

    assert "Removed the pattern “cheap”." in flash(response)
    assert list(spam.patterns.values_list("text", flat=True)) == ["promo"]
    assert AuditLogEntry.objects.filter(action=AuditAction.PATTERN_DELETE).count() == 1


@pytest.mark.parametrize("pattern_id", ["", "not-a-uuid", str(uuid.uuid4())])
def test_removing_an_unknown_pattern_is_a_message(
    room_admin_client, spam, pattern_id, system_actor
):
    other = wordfilter.dictionary_create(actor=system_actor, name="Other")
    [elsewhere] = wordfilter.patterns_create(actor=system_actor, dictionary=other, texts=["x"])
    for value in (pattern_id, str(elsewhere.pk)):
        response = room_admin_client.submit(
            dictionary_url("pattern_delete", spam),
            {"pattern_id": value},
            page=dictionary_url("dictionary", spam),
        )
        assert response.status_code == 302
        assert flash(response), value
    assert Pattern.objects.count() - Pattern.objects.filter(dictionary__default=True).count() == 3


def test_patterns_are_paged(moderator_client, system_actor):
    big = wordfilter.dictionary_create(actor=system_actor, name="Big")
    wordfilter.patterns_create(
        actor=system_actor, dictionary=big, texts=[f"w{i}" for i in range(PATTERNS_PAGE_SIZE + 5)]
    )
    url = dictionary_url("dictionary", big)

    first = moderator_client.get(url)
    second = moderator_client.get(url, {"page": "2"})
    nonsense = moderator_client.get(url, {"page": "nine"})

    assert len(first.context["patterns"]) == PATTERNS_PAGE_SIZE
    assert len(second.context["patterns"]) == 5
    assert "Page 2 of 2" in second.content.decode()
    assert nonsense.context["page"] == 1
    assert moderator_client.get(url, {"page": "99"}).context["page"] == 2


def test_the_dictionary_page_lists_the_rooms_that_use_it(moderator_client, filtered_room, spam):
    page = moderator_client.get(dictionary_url("dictionary", spam)).content.decode()

    assert reverse("moderation:room", kwargs={"room_id": filtered_room.pk}) in page


# --- CSV ----------------------------------------------------------------------------------------


def csv_file(data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("patterns.csv", data, content_type="text/csv")


def test_uploading_a_csv_replaces_the_patterns_after_a_confirmation(room_admin_client, spam):
    page = dictionary_url("dictionary", spam)
    data = '\ufeffscam,"free coins"\r\n垃圾\r\nSCAM\r\n'.encode()
    asked = room_admin_client.submit(
        dictionary_url("patterns_upload", spam), {"file": csv_file(data)}, page=page
    )
    assert asked.status_code == 200
    assert asked.context["patterns"] == ["scam", "free coins", "垃圾"]
    assert "Replace 2 with 3" in asked.content.decode()
    assert spam.patterns.count() == 2  # nothing changed yet

    done = room_admin_client.submit(
        dictionary_url("patterns_upload", spam),
        {"confirm": "1", "patterns": "\n".join(asked.context["patterns"])},
        page=page,
    )

    assert done.status_code == 302
    assert set(spam.patterns.values_list("text", flat=True)) == {"scam", "free coins", "垃圾"}
    assert AuditLogEntry.objects.filter(action=AuditAction.PATTERNS_REPLACE).count() == 1


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "The submitted file is empty."),
        (b"\xff\xfe\x00bad", "The file is not UTF-8 text."),
        (b" , \n", "The file has no patterns in it."),
        (b"ok\nbad!\n", "Row 2 of the file: A pattern holds letters and digits"),
        (b'"unclosed\n', "The file is not valid CSV"),
    ],
)
def test_a_bad_csv_file_is_a_message_and_changes_nothing(room_admin_client, spam, data, message):
    before = audit_count()
    response = room_admin_client.submit(
        dictionary_url("patterns_upload", spam),
        {"file": csv_file(data)},
        page=dictionary_url("dictionary", spam),
    )

    assert response.status_code == 302
    assert any(message in text for text in flash(response)), flash(response)
    assert spam.patterns.count() == 2
    assert audit_count() == before


def test_an_upload_without_a_file_is_a_message(room_admin_client, spam):
    response = room_admin_client.submit(
        dictionary_url("patterns_upload", spam), {}, page=dictionary_url("dictionary", spam)
    )

    assert any("This field is required" in text for text in flash(response))


def test_a_confirmed_upload_past_the_limit_is_refused(room_admin_client, spam):
    texts = "\n".join(f"w{i}" for i in range(1001))
    response = room_admin_client.submit(
        dictionary_url("patterns_upload", spam),
        {"confirm": "1", "patterns": texts},
        page=dictionary_url("dictionary", spam),
    )

    assert any("at most 1000 patterns" in text for text in flash(response)), flash(response)
    assert spam.patterns.count() == 2


def test_the_csv_download_round_trips(room_admin_client, moderator_client, system_actor):
    dictionary = wordfilter.dictionary_create(actor=system_actor, name="Mixed")
    texts = ["free coins", "垃圾", "bad-word"]
    wordfilter.patterns_create(actor=system_actor, dictionary=dictionary, texts=texts)

    response = moderator_client.get(dictionary_url("patterns_csv", dictionary))

    assert response["Content-Type"] == "text/csv"
    assert 'filename="Mixed-patterns.csv"' in response["Content-Disposition"]
    page = dictionary_url("dictionary", dictionary)
    asked = room_admin_client.submit(
        dictionary_url("patterns_upload", dictionary),
        {"file": csv_file(response.content)},
        page=page,
    )
    assert sorted(asked.context["patterns"]) == sorted(texts)


# --- A room's word filter ---------------------------------------------------------------------


def test_a_room_admin_enables_and_disables_a_dictionary_for_the_room(room_admin_client, room, spam):
    page = room_url("room", room)
    on = room_admin_client.submit(
        room_url("room_dictionary_set", room),
        {"dictionary_id": spam.pk, "enabled": "1"},
        page=page,
    )
    assert "“Spam” now filters this room's messages." in flash(on)
    assert ChatroomDictionary.objects.filter(room=room, dictionary=spam).exists()
    assert on["Location"] == page + "#wordfilter"

    room_admin_client.submit(
        room_url("room_dictionary_set", room), {"dictionary_id": spam.pk, "enabled": "0"}, page=page
    )
    assert not ChatroomDictionary.objects.filter(room=room).exists()
    assert AuditLogEntry.objects.filter(action=AuditAction.ROOM_DICTIONARIES).count() == 2


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"dictionary_id": "nope", "enabled": "1"},
        {"dictionary_id": str(uuid.uuid4()), "enabled": "1"},
        {"dictionary_id": "", "enabled": "maybe"},
    ],
)
def test_enabling_refuses_bad_input(room_admin_client, room, data):
    before = audit_count()
    response = room_admin_client.submit(
        room_url("room_dictionary_set", room), data, page=room_url("room", room)
    )

    assert response.status_code == 302
    assert flash(response)
    assert not ChatroomDictionary.objects.filter(room=room).exists()
    assert audit_count() == before


def test_an_inactive_room_cannot_enable_dictionaries(room_admin_client, room, spam, system_actor):
    services.chatroom_change_status(actor=system_actor, room=room, status=ChatStatus.INACTIVE)

    response = room_admin_client.submit(
        room_url("room_dictionary_set", room),
        {"dictionary_id": spam.pk, "enabled": "1"},
        page=room_url("room", room),
    )

    assert flash(response)
    assert not ChatroomDictionary.objects.filter(room=room).exists()


def test_the_room_page_shows_the_held_count_and_the_room_s_dictionaries(
    moderator_client, filtered_room
):
    response = moderator_client.get(room_url("room", filtered_room))

    assert response.context["wf_held"] == 1
    html = response.content.decode()
    assert room_url("review_queue", filtered_room) in html
    assert "1</span> held for review" in html
    enabled = [
        row["dictionary"].name for row in response.context["wf_dictionaries"] if row["enabled"]
    ]
    assert enabled == ["Spam"]


def test_the_room_test_box_uses_the_room_s_enabled_set(moderator_client, filtered_room, room):
    url = room_url("room_filter_test", filtered_room)

    hit = moderator_client.get(url, {"text": "cheap stuff"}).context["outcome"]["hit"]
    assert (hit.pattern_text, hit.dictionary_name) == ("cheap", "Spam")
    # A built-in word (not enabled here) goes through.
    english = Dictionary.objects.get(default=True, language="en").patterns.first().text
    assert moderator_client.get(url, {"text": english}).context["outcome"]["hit"] is None


def test_the_room_test_box_says_when_the_room_filters_nothing(moderator_client, room, spam):
    response = moderator_client.get(room_url("room_filter_test", room), {"text": "cheap"})

    assert response.context["outcome"]["hit"] is None
    assert "This room has no dictionary enabled" in response.content.decode()


def test_the_held_count_fragment(moderator_client, filtered_room):
    response = moderator_client.get(room_url("room_held_count", filtered_room))

    assert "1</span> held for review" in response.content.decode()


# --- The review queue ---------------------------------------------------------------------------


def test_the_queue_lists_held_messages_newest_first(moderator_client, filtered_room):
    send(filtered_room, "promo codes here", name="Cat")
    send(filtered_room, "a normal message", name="Dee")

    response = moderator_client.get(room_url("review_queue", filtered_room))

    assert [m.text for m in response.context["held"]] == ["promo codes here", "BUY CHEAP FOLLOWERS"]
    html = response.content.decode()
    assert "Matched “<strong>promo</strong>” of" in html
    assert "Cat" in html and "a normal message" not in html


def test_approve_shows_the_message_to_everyone(moderator_client, moderator, filtered_room):
    message = held(filtered_room)
    response = moderator_client.submit(
        room_url("review_approve", filtered_room),
        {"message_id": message.pk},
        page=room_url("review_queue", filtered_room),
    )

    message.refresh_from_db()
    assert (message.filter_status, message.sender_hidden) == (FilterStatus.APPROVED, False)
    assert "Approved the message from Ben: everyone sees it now." in flash(response)
    entry = AuditLogEntry.objects.get(action=AuditAction.FILTER_APPROVE)
    assert (entry.actor_user, entry.target_id) == (moderator, str(message.pk))


def test_confirm_keeps_it_hidden_and_off_the_queue(moderator_client, filtered_room):
    message = held(filtered_room)
    moderator_client.submit(
        room_url("review_confirm", filtered_room),
        {"message_id": message.pk},
        page=room_url("review_queue", filtered_room),
    )

    message.refresh_from_db()
    assert (message.filter_status, message.sender_hidden) == (FilterStatus.CONFIRMED, True)
    queue = moderator_client.get(room_url("review_queue", filtered_room))
    assert list(queue.context["held"]) == []


def test_block_sender_asks_then_blocks_and_confirms(moderator_client, filtered_room):
    message = held(filtered_room)
    page = room_url("review_queue", filtered_room)
    asked = moderator_client.submit(
        room_url("review_block", filtered_room), {"message_id": message.pk}, page=page
    )
    assert asked.status_code == 200
    assert "Block Ben?" in asked.content.decode()
    assert not BlockedUser.objects.exists()

    done = moderator_client.submit(
        room_url("review_block", filtered_room),
        {"message_id": message.pk, "confirm": "1", "reason": "spam"},
        page=page,
    )

    assert done.status_code == 302
    block = BlockedUser.objects.active().get(room=filtered_room)
    assert (block.user_id, block.reason) == ("viewer-ben", "spam")
    message.refresh_from_db()
    assert message.filter_status == FilterStatus.CONFIRMED


@pytest.mark.parametrize("action", ["review_approve", "review_confirm", "review_block"])
@pytest.mark.parametrize("message_id", ["", "nope", "unknown", "other room", "not held"])
def test_review_actions_refuse_bad_input(
    moderator_client, filtered_room, system_actor, action, message_id
):
    other = factories.ChatroomFactory()
    ids = {
        "unknown": str(uuid.uuid4()),
        "other room": str(factories.ChatMessageFactory(room=other).pk),
        "not held": str(send(filtered_room, "fine message").pk),
    }
    before, message = audit_count(), held(filtered_room)
    response = moderator_client.submit(
        room_url(action, filtered_room),
        {"message_id": ids.get(message_id, message_id), "confirm": "1"},
        page=room_url("review_queue", filtered_room),
    )

    assert response.status_code == 302
    assert flash(response)
    assert audit_count() == before
    message.refresh_from_db()
    assert message.filter_status == FilterStatus.HELD
    assert not BlockedUser.objects.exists()


def test_a_second_approval_is_harmless_and_confirming_an_approved_one_is_a_message(
    moderator_client, filtered_room
):
    message = held(filtered_room)
    page = room_url("review_queue", filtered_room)
    for _ in range(2):
        moderator_client.submit(
            room_url("review_approve", filtered_room), {"message_id": message.pk}, page=page
        )
    response = moderator_client.submit(
        room_url("review_confirm", filtered_room), {"message_id": message.pk}, page=page
    )

    assert any("was approved" in text for text in flash(response)), flash(response)
    assert AuditLogEntry.objects.filter(action=AuditAction.FILTER_APPROVE).count() == 1


def test_an_inactive_room_shows_its_queue_without_actions(
    moderator_client, filtered_room, system_actor
):
    services.chatroom_change_status(
        actor=system_actor, room=filtered_room, status=ChatStatus.INACTIVE
    )

    html = moderator_client.get(room_url("review_queue", filtered_room)).content.decode()

    assert "BUY CHEAP FOLLOWERS" in html
    assert room_url("review_approve", filtered_room) not in html


def test_the_queue_runs_a_fixed_number_of_queries(
    moderator_client, filtered_room, django_assert_num_queries
):
    # 1 session, 2 user, 3 the user's permissions, 4 their groups' permissions,
    # 5 the room, 6 one page of held messages, 7 the held count.
    queries = 7
    url = room_url("review_queue", filtered_room)
    with django_assert_num_queries(queries):
        assert len(moderator_client.get(url).context["held"]) == 1
    for index in range(60):
        send(filtered_room, f"cheap offer {index}", name=f"Spammer{index}")
    with django_assert_num_queries(queries):
        response = moderator_client.get(url)
    assert len(response.context["held"]) == 50
    assert response.context["held_count"] == 61
    assert response.context["next_cursor"]
    older = moderator_client.get(url, {"after": response.context["next_cursor"]})
    assert len(older.context["held"]) == 11


def test_the_queue_fragment_renders_the_list(moderator_client, filtered_room):
    response = moderator_client.get(room_url("review_queue_list", filtered_room))

    assert "BUY CHEAP FOLLOWERS" in response.content.decode()
    assert "<html" not in response.content.decode()


# --- The audit log -----------------------------------------------------------------------------


def test_the_audit_log_names_every_word_filter_action(room_admin_client, filtered_room, spam):
    message = held(filtered_room)
    wordfilter.filtered_message_confirm(
        actor=Actor.system(), room=filtered_room, message_id=message.pk
    )

    html = room_admin_client.get(reverse("moderation:audit")).content.decode()

    for action in (
        AuditAction.DICTIONARY_CREATE,
        AuditAction.PATTERNS_CREATE,
        AuditAction.ROOM_DICTIONARIES,
        AuditAction.FILTER_CONFIRM,
    ):
        assert f">{action.label}</span>" in html, action
    # A dictionary acted on links to its page.
    assert f'href="{dictionary_url("dictionary", spam)}"' in html


def test_the_room_feed_marks_held_and_confirmed_messages(moderator_client, filtered_room):
    send(filtered_room, "promo inside", name="Cat")
    wordfilter.filtered_message_confirm(
        actor=Actor.system(), room=filtered_room, message_id=held_by(filtered_room, "Cat").pk
    )

    html = moderator_client.get(room_url("room_feed", filtered_room)).content.decode()

    assert html.count(f'href="{room_url("review_queue", filtered_room)}" title="Held') == 1
    assert html.count('title="Held by the word filter and confirmed') == 1


def held_by(room, name: str) -> ChatMessage:
    return ChatMessage.objects.get(room=room, user_custom_name=name)


# --- Markup ---------------------------------------------------------------------------------------


def test_every_control_on_the_new_pages_is_labelled_and_nothing_is_inline(
    room_admin_client, filtered_room, spam
):
    from tests.moderation.test_markup import Controls

    pages = [
        HOME + "?text=cheap",
        dictionary_url("dictionary", spam),
        room_url("room_filter_test", filtered_room) + "?text=cheap",
        room_url("review_queue", filtered_room),
        room_url("room", filtered_room),
    ]
    for page in pages:
        response = room_admin_client.get(page)
        assert response.status_code == 200, page
        parser = Controls()
        parser.feed(response.content.decode())
        assert parser.controls or page == room_url("review_queue", filtered_room), page
        assert parser.unlabelled() == [], page
        assert (parser.inline_scripts, parser.styles) == (0, 0), page
    upload = room_admin_client.submit(
        dictionary_url("patterns_upload", spam),
        {"file": SimpleUploadedFile("p.csv", b"a\nb\n", content_type="text/csv")},
        page=dictionary_url("dictionary", spam),
    )
    parser = Controls()
    parser.feed(upload.content.decode())
    assert parser.unlabelled() == []


def test_the_rooms_list_shows_held_counts_with_a_link_to_the_queue(moderator_client, filtered_room):
    quiet = factories.ChatroomFactory(label="Quiet")

    response = moderator_client.get(reverse("moderation:rooms"))

    counts = {room.pk: room.held_count for room in response.context["rooms"]}
    assert counts == {filtered_room.pk: 1, quiet.pk: 0}
    assert f'href="{room_url("review_queue", filtered_room)}"' in response.content.decode()
