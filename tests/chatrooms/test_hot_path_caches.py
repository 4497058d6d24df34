"""What the per-request caches keep (verified tokens, a room's block index, enabled
counters and enabled dictionaries, its rendered state) never answers for a state that has
changed: the request after a block, an unblock, a revocation, a counter change, a word
filter change or a key's retirement sees it."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from chatrooms import selectors, services
from chatrooms.models import ChatMessage, Chatroom, FilterStatus, PollStatus, Role
from chatrooms.wordfilter import services as wordfilter
from chatrooms.wordfilter.models import MatchMode
from tests import factories
from tests.chatrooms.helpers import vote_body
from tests.conftest import token_client

B = "/bv/chatroom/v1"

pytestmark = pytest.mark.django_db


def send(client, text="hi"):
    return client.post(
        f"{B}/chatrooms/messages",
        {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": text}},
        format="json",
    )


def tap(client, key="like"):
    return client.post(
        f"{B}/chatrooms/messages",
        {
            "type": "INTERACTION_TYPE_CUSTOM",
            "custom_message": {"value": "", "incr": {"key": key, "value": 1}},
        },
        format="json",
    )


def vote(client, poll, option: str):
    body = vote_body(poll.pk, poll.type, option)
    return client.post(f"{B}/chatrooms/polls/{poll.pk}:vote", body, format="json")


def stored(text):
    message = ChatMessage.objects.get(text=text)
    return message.user_blocked, message.sender_hidden


def test_a_block_is_seen_by_the_next_send_though_the_index_was_warm(
    admin_token_client, viewer_token_client
):
    assert send(viewer_token_client, "before").status_code == 200  # warms the block index
    assert stored("before") == (False, False)

    blocked = admin_token_client.post(
        f"{B}/chatrooms/users:block", {"blocked_user": {"id": "viewer-1"}}, format="json"
    )
    assert blocked.status_code == 200
    assert send(viewer_token_client, "during").status_code == 200
    assert stored("during") == (True, True)

    admin_token_client.post(
        f"{B}/chatrooms/users:unblock", {"unblocked_user": {"id": "viewer-1"}}, format="json"
    )
    assert send(viewer_token_client, "after").status_code == 200
    assert stored("after") == (False, False)


def test_a_device_block_is_seen_by_the_next_send(admin_token_client, room):
    guest = token_client(room, Role.GUEST, device_id="shared-device")
    assert send(guest, "before").status_code == 200

    services.user_block(
        actor=services.Actor.system("tests"),
        room=Chatroom.objects.get(pk=room.pk),
        user_id="someone-else",
        device_id="shared-device",
    )

    assert send(guest, "during").status_code == 200
    assert stored("during") == (True, True)


def test_a_block_is_seen_by_the_next_vote(admin_token_client, room):
    poll = factories.PollFactory(room=room, status=PollStatus.ACTIVE, options=["a", "b"])
    option = str(poll.options.first().pk)
    voter = token_client(room, Role.VIEWER, subject="voter")
    other = token_client(room, Role.VIEWER, subject="other")

    assert vote(other, poll, option).status_code == 200  # warms the block index
    admin_token_client.post(
        f"{B}/chatrooms/users:block", {"blocked_user": {"id": "voter"}}, format="json"
    )

    refused = vote(voter, poll, option)

    assert refused.status_code == 403
    assert refused.json()["code"] == 7


def test_a_closed_poll_refuses_the_next_vote_though_it_was_kept(room, system_actor):
    poll = factories.PollFactory(room=room, status=PollStatus.ACTIVE, options=["a", "b"])
    option = str(poll.options.first().pk)

    early = vote(token_client(room, Role.VIEWER, subject="early"), poll, option)
    assert early.status_code == 200  # the active poll is kept
    services.poll_change(actor=system_actor, poll=poll, action=services.PollAction.CLOSE)

    late = vote(token_client(room, Role.VIEWER, subject="late"), poll, option)

    assert late.status_code == 400
    assert late.json()["code"] == 9  # FAILED_PRECONDITION: not active
    poll.refresh_from_db()
    assert poll.votes_count == 1


def test_a_disabled_counter_refuses_the_next_increment(api_key_client, viewer_token_client, room):
    assert tap(viewer_token_client, "heart").status_code == 200  # warms the enabled keys

    api_key_client.put(
        f"{B}/chatrooms/{room.pk}/custom-counters",
        {"custom_counters": [{"key": "like"}]},
        format="json",
    )

    refused = tap(viewer_token_client, "heart")
    assert refused.status_code == 400
    assert tap(viewer_token_client, "like").status_code == 200


def held(text) -> bool:
    return ChatMessage.objects.get(text=text).filter_status == FilterStatus.HELD


@pytest.fixture
def spam(system_actor):
    dictionary = wordfilter.dictionary_create(actor=system_actor, name="Spam")
    wordfilter.patterns_create(actor=system_actor, dictionary=dictionary, texts=["buy now"])
    return dictionary


def enable(room, dictionary, enabled=True):
    wordfilter.room_dictionaries_set(
        actor=services.Actor.system("tests"),
        room=Chatroom.objects.get(pk=room.pk),
        dictionary_ids=[dictionary.pk],
        enabled=enabled,
    )


def test_a_dictionary_enabled_or_disabled_is_seen_by_the_next_send(viewer_token_client, room, spam):
    assert send(viewer_token_client, "buy now").status_code == 200  # warms the room's set
    assert not held("buy now")

    enable(room, spam)
    send(viewer_token_client, "BUY NOW")
    assert held("BUY NOW")

    enable(room, spam, enabled=False)
    send(viewer_token_client, "Buy now")
    assert not held("Buy now")


def test_a_dictionary_change_is_seen_by_the_next_send_in_every_room_using_it(
    viewer_token_client, room, spam, system_actor
):
    other = factories.ChatroomFactory()
    other_viewer = token_client(other, Role.VIEWER, subject="other-viewer")
    enable(room, spam)
    enable(other, spam)
    send(viewer_token_client, "buy now")  # both rooms' sets read, the matcher compiled
    send(other_viewer, "buy it now")
    assert not held("buy it now")

    wordfilter.patterns_create(actor=system_actor, dictionary=spam, texts=["buy it now"])
    send(other_viewer, "BUY IT NOW")
    assert held("BUY IT NOW")

    wordfilter.dictionary_update(actor=system_actor, dictionary=spam, match_mode=MatchMode.WORD)
    send(viewer_token_client, "please buy now")
    assert held("please buy now")


def test_a_deleted_dictionary_is_not_asked_for_by_the_next_send(
    viewer_token_client, room, spam, system_actor
):
    enable(room, spam)
    send(viewer_token_client, "buy now")
    assert held("buy now")

    wordfilter.dictionary_delete(actor=system_actor, dictionary=spam)
    wordfilter.dictionary_create(actor=system_actor, name="Spam again")

    response = send(viewer_token_client, "Buy Now")
    assert response.status_code == 200
    assert not held("Buy Now")


def test_a_revoked_session_is_refused_on_its_next_request(room, system_actor):
    viewer = token_client(room, Role.VIEWER, subject="leaving")
    assert viewer.get(f"{B}/chatrooms").status_code == 200  # the token is verified once

    services.session_revoke(actor=system_actor, session=viewer.issued.session)

    response = viewer.get(f"{B}/chatrooms")
    assert response.status_code == 401
    assert response.json()["code"] == 16


def test_a_token_verified_before_its_key_was_retired_is_refused(api_key_client, room, settings):
    settings.CHATROOM_TOKEN_KEYS = {"k1": "a" * 40}
    settings.CHATROOM_TOKEN_SIGNING_KEY_ID = "k1"
    viewer = token_client(room, Role.VIEWER)
    assert viewer.get(f"{B}/chatrooms").status_code == 200

    settings.CHATROOM_TOKEN_KEYS = {"k2": "b" * 40}
    settings.CHATROOM_TOKEN_SIGNING_KEY_ID = "k2"

    assert viewer.get(f"{B}/chatrooms").status_code == 401


def test_a_token_verified_once_still_expires(room):
    viewer = token_client(room, Role.VIEWER, expired_at=timezone.now() + timedelta(seconds=2))
    assert viewer.get(f"{B}/chatrooms").status_code == 200

    time.sleep(max(0.0, viewer.claims.expires_at.timestamp() - time.time()) + 0.05)

    response = viewer.get(f"{B}/chatrooms")
    assert response.status_code == 401
    assert response.json()["code"] == 16


# --- The room state's entity tag --------------------------------------------------------


def test_an_unchanged_state_is_304_for_one_query(
    admin_token_client, viewer_token_client, room, django_assert_num_queries
):
    first = viewer_token_client.get(f"{B}/chatrooms")
    etag = first["ETag"]

    with django_assert_num_queries(1):  # the token's room, and nothing else
        again = viewer_token_client.get(f"{B}/chatrooms", HTTP_IF_NONE_MATCH=etag)

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert first["Cache-Control"] == "private, no-cache"


def test_a_change_ends_the_entity_tag(admin_token_client, viewer_token_client):
    etag = viewer_token_client.get(f"{B}/chatrooms")["ETag"]

    admin_token_client.post(
        f"{B}/chatrooms/users:block", {"blocked_user": {"id": "u1"}}, format="json"
    )
    changed = viewer_token_client.get(f"{B}/chatrooms", HTTP_IF_NONE_MATCH=etag)

    assert changed.status_code == 200
    assert [u["id"] for u in changed.json()["chatroom"]["blocked_users"]] == ["u1"]
    assert changed["ETag"] != etag


def test_the_tag_of_another_room_or_role_is_not_a_match(admin_token_client, viewer_token_client):
    other_room = token_client(factories.ChatroomFactory(), Role.VIEWER)
    viewer_tag = viewer_token_client.get(f"{B}/chatrooms")["ETag"]

    assert other_room.get(f"{B}/chatrooms", HTTP_IF_NONE_MATCH=viewer_tag).status_code == 200
    assert admin_token_client.get(f"{B}/chatrooms", HTTP_IF_NONE_MATCH=viewer_tag).status_code == (
        200
    )
    assert viewer_token_client.get(f"{B}/chatrooms", HTTP_IF_NONE_MATCH='W/"x"').status_code == (
        200
    )


def test_the_tag_of_a_state_with_a_timed_block_ends_with_it(
    viewer_token_client, room, system_actor
):
    services.user_block(
        actor=system_actor,
        room=room,
        user_id="brief",
        expires_at=timezone.now() + timedelta(seconds=1),
    )
    first = viewer_token_client.get(f"{B}/chatrooms")
    assert viewer_token_client.get(
        f"{B}/chatrooms", HTTP_IF_NONE_MATCH=first["ETag"]
    ).status_code in (200, 304)

    time.sleep(1.1)  # nothing is written when a block ends: the tag must end by itself
    after = viewer_token_client.get(f"{B}/chatrooms", HTTP_IF_NONE_MATCH=first["ETag"])

    assert after.status_code == 200
    assert after.json()["chatroom"]["blocked_users"] == []


# --- The block index -----------------------------------------------------------------------


def test_the_block_index_counts_time_and_the_longest_block_of_a_device(room, system_actor):
    now = timezone.now()
    services.user_block(actor=system_actor, room=room, user_id="forever", device_id="d1")
    services.user_block(
        actor=system_actor,
        room=room,
        user_id="brief",
        device_id="d1",
        expires_at=now + timedelta(minutes=1),
    )
    services.user_block(
        actor=system_actor,
        room=room,
        user_id="timed",
        device_id="d2",
        expires_at=now + timedelta(minutes=1),
    )
    index = selectors.room_block_index(Chatroom.objects.get(pk=room.pk))
    later = (now + timedelta(minutes=2)).timestamp()

    assert index.blocked("forever") and index.blocked("forever", now=later)
    assert index.blocked("anyone", "d1", now=later)  # the device's block without end
    assert index.blocked("timed") and not index.blocked("timed", now=later)
    assert index.blocked("anyone", "d2") and not index.blocked("anyone", "d2", now=later)
    assert not index.blocked("nobody") and not index.blocked("nobody", "")


def test_a_room_with_too_many_blocks_is_asked_each_time(room, system_actor, monkeypatch):
    monkeypatch.setattr(selectors, "BLOCK_INDEX_MAX", 1)
    for user_id in ("a", "b"):
        services.user_block(actor=system_actor, room=room, user_id=user_id)
    room = Chatroom.objects.get(pk=room.pk)

    assert selectors.room_block_index(room) is None
    assert services.is_user_blocked(room=room, user_id="a")
    assert not services.is_user_blocked(room=room, user_id="c")


def test_after_a_change_commits_a_room_read_before_it_is_not_answered_from_the_cache(
    admin_token_client, viewer_token_client, room, system_actor, django_capture_on_commit_callbacks
):
    stale = Chatroom.objects.get(pk=room.pk)
    assert not services.is_user_blocked(room=stale, user_id="u1")  # the index at that version
    assert viewer_token_client.get(f"{B}/chatrooms").status_code == 200  # the state cached

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_token_client.post(
            f"{B}/chatrooms/users:block", {"blocked_user": {"id": "u1"}}, format="json"
        )

    assert response.status_code == 200
    assert services.is_user_blocked(room=stale, user_id="u1")
