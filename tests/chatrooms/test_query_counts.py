"""Reads run a fixed number of queries whatever the room holds."""

import pytest

from chatrooms.models import PollStatus
from tests import factories

B = "/bv/chatroom/v1"

pytestmark = pytest.mark.django_db


def fill_room(room, n):
    for _ in range(n):
        factories.BlockedUserFactory(room=room)
        factories.PinnedMessageFactory(room=room)
        factories.CustomCounterFactory(room=room)
    factories.PollFactory(
        room=room, status=PollStatus.ACTIVE, options=[f"option {i}" for i in range(max(2, n))]
    )


STATE_QUERIES = 6


@pytest.mark.parametrize("n", [1, 200])
def test_room_state_query_count_does_not_grow(
    admin_token_client, room, n, django_assert_num_queries
):
    fill_room(room, n)

    with django_assert_num_queries(STATE_QUERIES):
        # 1 the token's room; 2 active blocks; 3 pins; 4 the active poll;
        # 5 its options; 6 counters
        response = admin_token_client.get(f"{B}/chatrooms")

    chat = response.json()["chatroom"]
    assert len(chat["blocked_users"]) == n
    assert len(chat["pinned_messages"]) == n
    assert len(chat["custom_counters"]) == n + 2
    assert len(chat["active_poll"]["multi_choice"]["options"]) == max(2, n)


@pytest.mark.parametrize("n", [1, 100])
def test_history_query_count_does_not_grow(viewer_token_client, room, n, django_assert_num_queries):
    for _ in range(n):
        factories.ChatMessageFactory(room=room)
    factories.BlockedUserFactory(room=room)

    with django_assert_num_queries(3):
        # 1 the token's room; 2 the page (blocked senders excluded by subquery);
        # 3 the room's active blocks, to flag senders
        response = viewer_token_client.get(f"{B}/chatrooms/messages", {"limit": 100})

    assert len(response.json()["messages"]) == n


@pytest.mark.parametrize("n", [1, 50])
def test_poll_list_query_count_does_not_grow(
    admin_token_client, room, n, django_assert_num_queries
):
    for _ in range(n):
        factories.PollFactory(room=room, options=["a", "b", "c"])

    with django_assert_num_queries(3):
        # 1 the token's room; 2 the page of polls; 3 their options
        response = admin_token_client.get(f"{B}/chatrooms/polls", {"page_size": 100})

    assert len(response.json()["polls"]) == n
