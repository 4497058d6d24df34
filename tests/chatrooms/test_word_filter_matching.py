"""The word filter's matcher: each mode with what it must and must not match, and the
per-process cache of compiled matchers."""

# ruff: noqa: RUF001, RUF003 (look-alike letters are the point)

import pytest

from chatrooms.models import InteractionType, Role
from chatrooms.wordfilter import matcher
from chatrooms.wordfilter import services as wordfilter
from chatrooms.wordfilter.matcher import EXACT, FUZZY, WORD, PatternRow, RoomMatcher
from chatrooms.wordfilter.models import Dictionary, MatchMode
from tests.chatrooms.test_messages_api import text


def matches(mode: str, patterns: list[str], message: str) -> str | None:
    rows = [PatternRow(str(i), p, "d", "D", mode) for i, p in enumerate(patterns)]
    hit = RoomMatcher(rows).match(message)
    return hit.pattern_text if hit else None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("bad", "bad"),
        ("BAD", "bad"),
        ("  Bad\n", "bad"),
        ("bad word", "Bad Word"),
        ("this is bad", None),  # upstream: the whole message only
        ("badly", None),
        ("b.a.d", None),
        ("ｂａｄ", None),  # no NFKC in the upstream mode
    ],
)
def test_exact_mode_is_upstreams_whole_message_case_insensitive(message, expected):
    assert matches(EXACT, ["bad", "Bad Word"], message) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("you ass", "ass"),
        ("ASS!", "ass"),
        ("what an ass, really", "ass"),
        ("ｙｏｕ ａｓｓ", "ass"),  # NFKC: full-width letters
        ("class", None),  # whole words only
        ("classic assets", None),
        ("passage", None),
        ("bad-word here", "bad word"),  # separators are all one
        ("bad_word", "bad word"),
        ("badword", None),
        ("a s s", None),  # spacing out is the fuzzy mode's
        ("4ss", None),
        ("你是傻逼吗", "傻逼"),  # CJK: a substring
        ("グループセックスです", "グループセックス"),
    ],
)
def test_word_mode_matches_whole_words_and_cjk_substrings(message, expected):
    assert matches(WORD, ["ass", "bad word", "傻逼", "グループセックス"], message) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("f4ck this", "fuck"),
        ("F@CK", "fuck"),
        ("fück", "fuck"),
        ("f u c k", "fuck"),
        ("f.u.c.k off", "fuck"),
        ("f-u-c-k", "fuck"),
        ("fu\u200bck", "fuck"),  # a zero-width space inside
        ("ｆｕｃｋ", "fuck"),
        ("sh1t happens", "shit"),
        ("$hit", "shit"),
        ("5h1t", "shit"),
        ("bаd", "bad"),  # Cyrillic а
        ("so bаd!", "bad"),
        ("b a d", "bad"),
        ("b.a.d", "bad"),
        ("b̷a̷d̷", "bad"),  # combining marks
        ("傻 逼", "傻逼"),
        # and not:
        ("class", None),
        ("classic", None),
        ("a bad", "bad"),
        ("abad", None),
        ("duck", None),
        ("deck", None),  # vowels only stand in for vowels where the message has leet
        ("shitake", None),
        ("f.u.c.k.e.r", None),
    ],
)
def test_fuzzy_mode_reads_through_look_alikes_leet_and_spacing(message, expected):
    patterns = ["fuck", "shit", "bad", "ass", "dick", "傻逼"]
    assert matches(FUZZY, patterns, message) == expected


def test_digits_in_a_pattern_match_only_digits():
    assert matches(FUZZY, ["2 girls 1 cup"], "2 girls 1 cup!") == "2 girls 1 cup"
    assert matches(FUZZY, ["13"], "13") == "13"
    assert matches(FUZZY, ["13"], "ie") is None


def test_the_first_hit_is_exact_else_the_earliest_in_the_message():
    rows = [
        PatternRow("1", "late", "d1", "First", WORD),
        PatternRow("2", "early", "d2", "Second", FUZZY),
        PatternRow("3", "early late", "d3", "Third", EXACT),
    ]
    compiled = RoomMatcher(rows)
    assert compiled.match("early late").pattern_id == "3"
    hit = compiled.match("so early, then late")
    assert (hit.pattern_id, hit.dictionary_name, hit.match_mode) == ("2", "Second", FUZZY)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ok", None),
        ("bad-word_2", None),
        ("two words", None),
        ("日本語", None),
        ("x" * 40, None),
        ("x" * 41, "at most 40"),
        ("", "empty"),
        ("a!b", "symbols"),
        ("a.b", "symbols"),
        ("a  b", "symbols"),
        ("a\tb", "symbols"),
        ("--", "symbols"),  # no letter or digit
        ("🖕", "symbols"),
    ],
)
def test_pattern_rules(text, problem):
    found = matcher.pattern_problem(text, 40)
    if problem is None:
        assert found is None
    else:
        assert problem in found


@pytest.mark.django_db
def test_a_rooms_matcher_is_compiled_once_and_again_only_after_a_change(
    room, system_actor, make_token_client
):
    matcher.clear_cache()
    dictionary = wordfilter.dictionary_create(actor=system_actor, name="Spam")
    wordfilter.patterns_create(actor=system_actor, dictionary=dictionary, texts=["spam"])
    wordfilter.room_dictionaries_set(
        actor=system_actor, room=room, dictionary_ids=[dictionary.pk], enabled=True
    )
    sender = make_token_client(room, Role.VIEWER, subject="s")
    before = matcher.builds

    text(sender, "spam")
    text(sender, "ok")
    assert matcher.builds == before + 1

    wordfilter.patterns_create(actor=system_actor, dictionary=dictionary, texts=["eggs"])
    assert text(sender, "eggs").json()["message"]["text_message"]["filtered"] is True
    assert matcher.builds == before + 2

    english = Dictionary.objects.get(default=True, language="en")
    wordfilter.room_dictionaries_set(
        actor=system_actor, room=room, dictionary_ids=[english.pk], enabled=True
    )
    assert text(sender, "anal").json()["message"]["text_message"]["filtered"] is True
    assert matcher.builds == before + 3

    wordfilter.dictionary_update(
        actor=system_actor, dictionary=dictionary, match_mode=MatchMode.WORD
    )
    assert text(sender, "more spam here").json()["message"]["text_message"]["filtered"] is True
    assert matcher.builds == before + 4
    text(sender, "fine")
    assert matcher.builds == before + 4


@pytest.mark.django_db
def test_only_text_messages_are_filtered(room, system_actor, make_token_client):
    dictionary = wordfilter.dictionary_create(actor=system_actor, name="Spam")
    wordfilter.patterns_create(actor=system_actor, dictionary=dictionary, texts=["spam"])
    wordfilter.room_dictionaries_set(
        actor=system_actor, room=room, dictionary_ids=[dictionary.pk], enabled=True
    )
    sender = make_token_client(room, Role.VIEWER, subject="s")
    response = sender.post(
        "/bv/chatroom/v1/chatrooms/messages",
        {"type": InteractionType.CUSTOM, "custom_message": {"value": "spam"}},
        format="json",
    )
    assert response.status_code == 200
    assert "text_message" not in response.json()["message"]
