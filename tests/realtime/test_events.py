"""Every change made through the services reaches the room's subscribers after commit."""

import pytest
from django.db import transaction

from chatrooms import services
from chatrooms.models import PollStatus, PollType, Role
from tests import factories
from tests.realtime.conftest import wait_for
from tests.realtime.test_link import of_type, text

pytestmark = pytest.mark.django_db(transaction=True)


def one_event(chat, kind: str) -> dict:
    got = chat.messages(until=of_type(kind))
    [event] = [m for m in got if m["type"] == kind]
    return event


def test_every_moderation_action_is_broadcast(web_publisher, room, chat_clients, system_actor):
    viewer = chat_clients(room, Role.VIEWER)
    admin = chat_clients(room, Role.ADMIN)

    services.chatroom_set_muted(actor=system_actor, room=room, muted=True)
    event = one_event(viewer, "INTERACTION_TYPE_MUTE")
    assert event["user"]["id"] == system_actor.id
    services.chatroom_set_muted(actor=system_actor, room=room, muted=False)
    one_event(viewer, "INTERACTION_TYPE_UNMUTE")

    pin = services.MessageSnapshot(id="m-1", text="pinned words", sender_id="u-1")
    services.message_pin(actor=system_actor, room=room, message=pin)
    event = one_event(viewer, "INTERACTION_TYPE_PIN_MESSAGE")
    assert event["pin_unpin_message"]["message"]["text"] == "pinned words"
    services.message_unpin(actor=system_actor, room=room, message_id="m-1")
    assert one_event(viewer, "INTERACTION_TYPE_UNPIN_MESSAGE")["pin_unpin_message"]

    message = factories.ChatMessageFactory(room=room)
    services.message_delete(actor=system_actor, room=room, message_id=message.pk)
    assert one_event(viewer, "INTERACTION_TYPE_DELETE_MESSAGE")["delete_message"] == {
        "id": str(message.pk)
    }

    services.user_block(actor=system_actor, room=room, user_id="troll", custom_name="Troll")
    event = one_event(viewer, "INTERACTION_TYPE_BLOCK_USER")
    assert event["block_unblock_user"]["id"] == "troll"
    assert event["block_unblock_user"]["blocked"] is True
    services.user_unblock(actor=system_actor, room=room, user_id="troll")
    event = one_event(viewer, "INTERACTION_TYPE_UNBLOCK_USER")
    assert event["block_unblock_user"]["blocked"] is False

    services.viewer_info_update(actor=system_actor, room=room, enabled=True)
    assert one_event(viewer, "INTERACTION_TYPE_VIEWER_INFO_ENABLED")["viewer_info"]["enabled"]
    services.viewer_info_update(actor=system_actor, room=room, enabled=False)
    one_event(viewer, "INTERACTION_TYPE_VIEWER_INFO_DISABLED")

    services.custom_counters_update(actor=system_actor, room=room, keys=["like", "fire"])
    event = one_event(viewer, "INTERACTION_TYPE_CUSTOM_COUNTER_UPDATE")
    assert event["custom_counter"]["key"] == "heart"
    assert event["custom_counter"]["disabled"] is True

    # Admins got all of it too, on their own topic.
    kinds = [m["type"] for m in admin.messages(until=lambda got: len(got) >= 11)]
    assert kinds.count("INTERACTION_TYPE_CUSTOM_COUNTER_UPDATE") == 2  # heart off, fire new
    assert "INTERACTION_TYPE_BLOCK_USER" in kinds


def test_poll_events_hide_a_quizs_answer_from_viewers_until_it_ends(
    web_publisher, room, chat_clients, system_actor
):
    viewer = chat_clients(room, Role.VIEWER)
    admin = chat_clients(room, Role.ADMIN)
    poll = services.poll_create(
        actor=system_actor,
        room=room,
        type=PollType.SINGLE_CHOICE,
        question="2 + 2?",
        options=[services.OptionInput("4", corrected=True), services.OptionInput("5")],
    )
    services.poll_update(
        actor=system_actor,
        poll=poll,
        type=PollType.SINGLE_CHOICE,
        question="2 + 2 = ?",
        options=[services.OptionInput("4", corrected=True), services.OptionInput("5")],
    )
    one_event(viewer, "INTERACTION_TYPE_POLL_UPDATE")
    services.poll_change(actor=system_actor, poll=poll, action=services.PollAction.START)
    started = one_event(viewer, "INTERACTION_TYPE_POLL_STARTED")
    assert started["poll"]["status"] == PollStatus.ACTIVE
    assert [o["corrected"] for o in started["poll"]["multi_choice"]["options"]] == [False, False]
    admin_started = one_event(admin, "INTERACTION_TYPE_POLL_STARTED")
    assert [o["corrected"] for o in admin_started["poll"]["multi_choice"]["options"]] == [
        True,
        False,
    ]
    services.poll_change(actor=system_actor, poll=poll, action=services.PollAction.CLOSE)
    closed = one_event(viewer, "INTERACTION_TYPE_POLL_CLOSED")
    assert [o["corrected"] for o in closed["poll"]["multi_choice"]["options"]] == [True, False]
    services.poll_change(actor=system_actor, poll=poll, action=services.PollAction.ARCHIVE)
    one_event(viewer, "INTERACTION_TYPE_POLL_ARCHIVED")


def test_votes_over_mqtt_are_counted_and_the_counts_broadcast(
    worker, room, chat_clients, system_actor
):
    poll = factories.PollFactory(room=room, status=PollStatus.ACTIVE, options=["yes", "no"])
    yes = poll.options.get(text="yes")
    voter = chat_clients(room, Role.VIEWER, subject="voter")
    admin = chat_clients(room, Role.ADMIN)
    vote = {
        "type": "INTERACTION_TYPE_POLL_USER_VOTE",
        "vote": {
            "poll": {
                "id": str(poll.pk),
                "type": poll.type,
                "multi_choice": {"options": [{"id": str(yes.pk)}]},
            }
        },
    }
    voter.send(vote)
    voter.send(vote)  # once only
    update = one_event(voter, "INTERACTION_TYPE_POLL_UPDATE")
    assert update["poll"]["votes_count"] == 1
    assert [o["votes_count"] for o in update["poll"]["multi_choice"]["options"]] == [1, 0]
    cast = one_event(admin, "INTERACTION_TYPE_POLL_USER_VOTE")  # who voted: admins only
    assert cast["user"]["id"] == "voter"

    other_room = services.chatroom_create(actor=system_actor)
    elsewhere = factories.PollFactory(room=other_room, status=PollStatus.ACTIVE, options=["a"])
    vote["vote"]["poll"]["id"] = str(elsewhere.pk)
    voter.send(vote)
    wait_for(lambda: worker.stats["dropped_vote_unknown_poll"] == 1)
    wait_for(lambda: worker.stats["refused_ALREADY_VOTED"] == 1)
    assert not elsewhere.ballots.exists()


def test_nothing_is_broadcast_for_a_rolled_back_change(
    web_publisher, room, chat_clients, system_actor
):
    viewer = chat_clients(room, Role.VIEWER)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.chatroom_set_muted(actor=system_actor, room=room, muted=True)
        services.user_block(actor=system_actor, room=room, user_id="troll")
        raise RuntimeError("the request failed after the services ran")
    services.message_send(
        actor=system_actor,
        room=room,
        type="INTERACTION_TYPE_TEXT",
        text="after the rollback",
        sent_at=room.created_at,
    )
    [message] = viewer.messages()
    assert message["text_message"]["text"] == "after the rollback"


def test_rest_messages_are_broadcast(web_publisher, room, chat_clients, viewer_token_client):
    viewer = chat_clients(room, Role.VIEWER)
    response = viewer_token_client.post(
        "/bv/chatroom/v1/chatrooms/messages", text("over REST"), format="json"
    )
    assert response.status_code == 200
    [message] = viewer.messages()
    assert message["id"] == response.json()["message"]["id"]


def test_a_purge_announces_each_deletion_and_unpin(web_publisher, room, chat_clients, system_actor):
    viewer = chat_clients(room, Role.VIEWER)
    spam = [factories.ChatMessageFactory(room=room, user_id="spammer") for _ in range(3)]
    factories.PinnedMessageFactory(room=room, message_id=str(spam[0].pk))

    services.messages_purge(actor=system_actor, room=room, user_id="spammer", minutes=5)

    got = viewer.messages(until=of_type("INTERACTION_TYPE_UNPIN_MESSAGE"))
    deleted = {
        m["delete_message"]["id"] for m in got if m["type"] == "INTERACTION_TYPE_DELETE_MESSAGE"
    }
    assert deleted == {str(m.pk) for m in spam}
    [unpin] = [m for m in got if m["type"] == "INTERACTION_TYPE_UNPIN_MESSAGE"]
    assert unpin["pin_unpin_message"]["message"]["id"] == str(spam[0].pk)


def test_messages_sent_with_an_api_key_are_broadcast(
    web_publisher, room, chat_clients, api_key_client, admin_token_client
):
    """POST /chatrooms/{id}/messages goes through the same service as every send: after
    commit, to viewers what they may see, to admins everything (issue 12)."""
    viewer = chat_clients(room, Role.VIEWER)
    admin = chat_clients(room, Role.ADMIN)
    admin_token_client.post(
        "/bv/chatroom/v1/chatrooms/users:block", {"blocked_user": {"id": "troll"}}, format="json"
    )
    assert [m["type"] for m in viewer.messages()] == ["INTERACTION_TYPE_BLOCK_USER"]
    assert [m["type"] for m in admin.messages()] == ["INTERACTION_TYPE_BLOCK_USER"]
    url = f"/bv/chatroom/v1/chatrooms/{room.id}/messages"

    hidden = api_key_client.post(url, {"message": "spam", "userId": "troll"}, format="json")
    shown = api_key_client.post(url, {"message": "hi", "userId": "u1"}, format="json")

    assert (hidden.status_code, shown.status_code) == (200, 200)
    [message] = viewer.messages()
    assert message["id"] == shown.json()["message"]["id"]
    assert message["user"]["id"] == "u1" and message["user"]["is_admin"] is True
    got = admin.messages(until=lambda messages: len(messages) == 2)
    assert [m["text_message"]["text"] for m in got] == ["spam", "hi"]
    assert viewer.nothing_for(0.3) == []
