"""Reads run a fixed number of queries whatever the room holds."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from chatrooms import selectors, services
from chatrooms.auth import Actor
from chatrooms.models import (
    ActorKind,
    AuditAction,
    AuditSource,
    Chatroom,
    ChatSession,
    InteractionType,
    PollStatus,
    Role,
)
from chatrooms.wordfilter import services as wordfilter
from tests import factories
from tests.chatrooms.helpers import vote_body
from tests.conftest import token_client

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


def rolled_up_recently(room):
    """Counts rolled up just now, with a long window: reads take the plain read path."""
    Chatroom.objects.filter(pk=room.pk).update(
        counts_rolled_up_at=timezone.now(), batch_window=timedelta(hours=1)
    )


@pytest.mark.parametrize("n", [1, 200])
def test_room_state_query_count_does_not_grow(
    admin_token_client, room, n, django_assert_num_queries
):
    fill_room(room, n)
    rolled_up_recently(room)

    with django_assert_num_queries(STATE_QUERIES):
        # 1 the token's room; 2 active blocks; 3 pins; 4 the active poll;
        # 5 its options; 6 counters
        response = admin_token_client.get(f"{B}/chatrooms")

    chat = response.json()["chatroom"]
    assert len(chat["blocked_users"]) == n
    assert len(chat["pinned_messages"]) == n
    assert len(chat["custom_counters"]) == n + 2
    assert len(chat["active_poll"]["multi_choice"]["options"]) == max(2, n)


@pytest.mark.parametrize("n", [1, 200])
def test_revoked_sessions_cost_one_query_then_none(
    admin_token_client, room, n, django_assert_num_queries
):
    for i in range(n):
        token_client(room, Role.VIEWER, subject=f"gone-{i}")
    services.room_sessions_revoke(actor=Actor.system("tests"), room=room)
    fresh = token_client(room, Role.ADMIN, subject="host")
    # Tokens carry whole seconds: move the room-wide revocation back past this second.
    Chatroom.objects.filter(pk=room.pk).update(
        sessions_revoked_before=timezone.now() - timedelta(seconds=2)
    )
    for i in range(n):
        services.user_sessions_revoke(actor=Actor.system("tests"), room=room, user_id="x")
        services.session_revoke(
            actor=Actor.system("tests"),
            session=token_client(room, Role.VIEWER, subject=f"late-{i}").issued.session,
        )
    rolled_up_recently(room)

    with django_assert_num_queries(6):
        # 1 the token's room; 2 its revoked sessions (nothing cached yet); 3 the active
        # poll (none, so no options); 4 active blocks; 5 pins; 6 counters
        assert fresh.get(f"{B}/chatrooms").status_code == 200
    with django_assert_num_queries(1):  # the token's room; the revoked set and state cached
        assert fresh.get(f"{B}/chatrooms").status_code == 200


@pytest.mark.parametrize("n", [1, 100])
def test_history_query_count_does_not_grow(viewer_token_client, room, n, django_assert_num_queries):
    for _ in range(n):
        factories.ChatMessageFactory(room=room)
    factories.BlockedUserFactory(room=room)
    # The first read of this state version also reads the room's active blocks (its
    # block index: user.blocked, and any row the flag missed is dropped); later ones not.
    viewer_token_client.get(f"{B}/chatrooms/messages", {"limit": 1})

    with django_assert_num_queries(2):
        # 1 the token's room; 2 the page: the messages not flagged sender_hidden and
        # the viewer's own flagged ones (one UNION ALL)
        response = viewer_token_client.get(f"{B}/chatrooms/messages", {"limit": 100})

    assert len(response.json()["messages"]) == n


@pytest.mark.parametrize("n", [1, 50])
def test_poll_list_query_count_does_not_grow(
    admin_token_client, room, n, django_assert_num_queries
):
    for _ in range(n):
        factories.PollFactory(room=room, options=["a", "b", "c"])
    rolled_up_recently(room)

    with django_assert_num_queries(3):
        # 1 the token's room; 2 the page of polls; 3 their options
        response = admin_token_client.get(f"{B}/chatrooms/polls", {"page_size": 100})

    assert len(response.json()["polls"]) == n


ROLLUP_QUERIES = 17


# The senders' active blocks come from the room's block index (selectors.room_block_index),
# and its enabled dictionaries from wordfilter.services.room_matcher, each read once per
# state version and process: warm in these tests (``warm``), see below for a cold one.
# On PostgreSQL a send from unblocked senders outside slow mode is one statement and no
# transaction of its own (chatrooms.inserts.insert_together); on SQLite, and whenever the send
# must lock or claim something, it runs in a transaction: a savepoint here, as these
# tests run inside the test's transaction, then the insert, then the release.
SEND_QUERIES = 1 if connection.vendor == "postgresql" else 3
# Many senders, but few enough for one INSERT on SQLite too (Django splits a bulk insert
# there at 999 parameters: 66 messages).
BATCH = 50
SLOW_MODE_SEND_QUERIES = 5


def warm(room) -> None:
    """Read what a send keeps per state version of the room, as the first send would."""
    selectors.room_block_index(room)
    wordfilter.room_matcher(room)


def batch_of_senders(names) -> list:
    """What the realtime worker hands ``messages_send``: one message from each viewer."""
    now = timezone.now()
    return [
        services.IncomingMessage(
            actor=Actor(
                kind=ActorKind.CHATROOM_TOKEN, source=AuditSource.API, id=name, device_id=name
            ),
            type=InteractionType.TEXT,
            sent_at=now,
            text="hi",
        )
        for name in names
    ]


@pytest.mark.parametrize("n", [1, BATCH])
def test_a_batch_send_query_count_does_not_grow(room, n, django_assert_num_queries):
    incoming = batch_of_senders(f"v{i}" for i in range(n))
    warm(room)

    with django_assert_num_queries(SEND_QUERIES):
        # PostgreSQL: 1 insert the messages. SQLite: 1 savepoint; 2 insert the messages;
        # 3 release the savepoint. The senders'
        # blocks come from the room's block index, its enabled dictionaries (none here)
        # are kept per state version, the per-user limits are counted in the cache, and
        # slow mode's table is not touched while the room is not in slow mode.
        result = services.messages_send(room=room, incoming=incoming)

    assert len(result.stored) == n


@pytest.mark.parametrize("n", [1, BATCH])
def test_a_slow_mode_batch_send_query_count_does_not_grow(
    room, n, system_actor, django_assert_num_queries
):
    room = services.chatroom_set_slow_mode(actor=system_actor, room=room, seconds=30)
    services.messages_send(room=room, incoming=batch_of_senders(f"old{i}" for i in range(n)))
    # n viewers who have just sent, and n who have not.
    incoming = batch_of_senders([f"old{i}" for i in range(n)] + [f"new{i}" for i in range(n)])

    with django_assert_num_queries(SLOW_MODE_SEND_QUERIES):
        # 1 savepoint (slow mode's writes and the insert commit together); 2 one
        # conditional upsert that takes the free slots of all the senders at once; 3 one
        # read of the slots that were not free, for the seconds each sender has to
        # wait; 4 the insert; 5 release.
        result = services.messages_send(room=room, incoming=incoming)

    assert len(result.stored) == n
    assert len(result.refused) == n


@pytest.mark.parametrize("n", [1, BATCH])
def test_a_batch_send_holding_new_users_query_count_does_not_grow(
    room, n, system_actor, django_assert_num_queries
):
    # Lockdown with only the hold, so the count is the hold's alone.
    services.chatroom_lockdown_configure(
        actor=system_actor,
        room=room,
        slow_mode_seconds=0,
        mute_viewers=False,
        hold_new_users_minutes=10,
    )
    services.chatroom_lockdown_start(actor=system_actor, room=room)
    room = Chatroom.objects.get(pk=room.pk)
    # n viewers who joined an hour ago, and n who have just joined.
    for i in range(n):
        ChatSession.objects.create(
            room=room,
            subject=f"old{i}",
            device_id="d",
            role="ROLE_VIEWER",
            key_id="k",
            created_at=timezone.now() - timedelta(hours=1),
            expires_at=timezone.now() + timedelta(hours=1),
        )
    incoming = batch_of_senders([f"old{i}" for i in range(n)] + [f"new{i}" for i in range(n)])
    warm(room)

    with django_assert_num_queries(SEND_QUERIES + 1):
        # SEND_QUERIES, plus one read of the first session of every sender at once.
        result = services.messages_send(room=room, incoming=incoming)

    assert len(result.stored) == n
    assert len(result.refused) == n


@pytest.mark.parametrize("n", [1, 200])
def test_roll_up_query_count_does_not_grow(room, n, django_assert_num_queries):
    poll = factories.PollFactory(room=room, status=PollStatus.ACTIVE, options=["a", "b"])
    poll.room = room
    option = poll.options.first()
    for i in range(n):
        services.counter_increment(room=room, key="like", value=1)
        services.counter_increment(room=room, key="heart", value=2)
        voter = token_client(room, Role.VIEWER, subject=f"voter{i}").claims
        services.poll_vote(actor=Actor.for_token(voter), poll=poll, option_ids=[option.pk])

    with django_assert_num_queries(ROLLUP_QUERIES):
        # 1 savepoint; 2 claim the room row (SKIP LOCKED); 3 lock the pending increments;
        # 4 mark them applied; 5-6 add to the two counters; 7 active polls;
        # 8 votes per option; 9 options; 10 update the changed option; 11 count ballots;
        # 12 update the poll; 13 the room's roll-up time; 14-16 read back what changed
        # for the broadcast (the counters, the poll, its options); 17 release the savepoint
        assert services.chatroom_rollup(room=room)

    counters = {c.key: (c.value, c.version_number) for c in room.custom_counters.all()}
    assert counters == {"like": (n, 1), "heart": (2 * n, 1)}
    poll.refresh_from_db()
    assert poll.votes_count == n


def test_a_second_read_of_the_same_state_is_one_query(
    admin_token_client, room, django_assert_num_queries
):
    fill_room(room, 20)
    rolled_up_recently(room)
    first = admin_token_client.get(f"{B}/chatrooms")

    with django_assert_num_queries(1):  # the token's room; the body comes from the cache
        again = admin_token_client.get(f"{B}/chatrooms")

    assert again.content == first.content


def test_every_change_is_visible_at_once(admin_token_client, viewer_token_client, room):
    rolled_up_recently(room)

    def state(client):
        return client.get(f"{B}/chatrooms").json()["chatroom"]

    assert state(viewer_token_client)["blocked_users"] == []
    admin_token_client.post(
        f"{B}/chatrooms/users:block", {"blocked_user": {"id": "u1"}}, format="json"
    )
    assert [u["id"] for u in state(viewer_token_client)["blocked_users"]] == ["u1"]
    admin_token_client.post(f"{B}/chatrooms:mute", {}, format="json")
    assert state(viewer_token_client)["muted"] is True
    admin_token_client.put(
        f"{B}/chatrooms/viewer-infos", {"viewer_info": {"enabled": True}}, format="json"
    )
    assert state(viewer_token_client)["viewer_info"]["enabled"] is True


def test_an_expiring_block_ends_the_cached_state(admin_token_client, room, system_actor):
    rolled_up_recently(room)
    services.user_block(
        actor=system_actor,
        room=room,
        user_id="brief",
        expires_at=timezone.now() + timedelta(seconds=1),
    )

    def blocked():
        return admin_token_client.get(f"{B}/chatrooms").json()["chatroom"]["blocked_users"]

    assert [u["id"] for u in blocked()] == ["brief"]
    time.sleep(1.6)  # nothing is written when a block expires: the cache entry must end
    assert blocked() == []


def test_state_is_served_gzipped_to_clients_that_ask(admin_token_client, room):
    import gzip
    import json

    plain = admin_token_client.get(f"{B}/chatrooms")
    packed = admin_token_client.get(f"{B}/chatrooms", HTTP_ACCEPT_ENCODING="gzip, deflate")

    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    assert json.loads(gzip.decompress(packed.content)) == plain.json()


@pytest.mark.parametrize("n", [1, 30])
def test_room_list_by_api_key_query_count_does_not_grow(
    api_key_client, api_key, n, django_assert_num_queries
):
    for _ in range(n):
        fill_room(factories.ChatroomFactory(), 3)
    api_key_client.get(f"{B}/chatrooms")  # the key's last use is written once a minute

    with django_assert_num_queries(7):
        # 1 the API key; 2 the page of rooms (one more, to know whether a next page
        # exists); then for the whole page: 3 active blocks; 4 pins; 5 counters;
        # 6 active polls; 7 their options
        response = api_key_client.get(f"{B}/chatrooms", {"page": 1, "pageSize": 100})

    chatrooms = response.json()["chatrooms"]
    assert len(chatrooms) == n
    assert all(len(chat["blocked_users"]) == 3 for chat in chatrooms)
    assert all(len(chat["active_poll"]["multi_choice"]["options"]) == 3 for chat in chatrooms)


@pytest.mark.parametrize("n", [1, 200])
def test_room_by_id_query_count_does_not_grow(api_key_client, room, n, django_assert_num_queries):
    fill_room(room, n)
    api_key_client.get(f"{B}/chatrooms/{room.id}")

    with django_assert_num_queries(7):
        # 1 the API key; 2 the room; 3 active blocks; 4 pins; 5 the active poll;
        # 6 its options; 7 counters
        response = api_key_client.get(f"{B}/chatrooms/{room.id}")

    assert len(response.json()["chatroom"]["blocked_users"]) == n


def test_a_message_sent_with_an_api_key_costs_what_a_tokens_does(
    api_key_client, room, django_assert_num_queries
):
    api_key_client.post(f"{B}/chatrooms/{room.id}/messages", {"message": "warm"}, format="json")

    with django_assert_num_queries(2 + SEND_QUERIES):
        # 1 the API key; 2 the room; then what any send costs (SEND_QUERIES)
        response = api_key_client.post(
            f"{B}/chatrooms/{room.id}/messages", {"message": "hi", "userId": "u1"}, format="json"
        )

    assert response.status_code == 200


def test_a_block_query_count(admin_token_client, room, django_assert_num_queries):
    admin_token_client.post(
        f"{B}/chatrooms/users:block", {"blocked_user": {"id": "warm"}}, format="json"
    )

    # 1 the token's room; 2 savepoint (the view's transaction, in the test's); 3 the
    # user's open block, if any; 4 the block: on PostgreSQL INSERT ... ON CONFLICT DO
    # NOTHING (a concurrent block of the same user stands, no savepoint needed), on
    # SQLite 4 savepoint, 5 the INSERT, 6 release; then the room's state version, the
    # user's messages flagged, the audit row and the release.
    pg = connection.vendor == "postgresql"
    with django_assert_num_queries(8 if pg else 10):
        response = admin_token_client.post(
            f"{B}/chatrooms/users:block", {"blocked_user": {"id": "u1"}}, format="json"
        )

    assert response.status_code == 200


def test_an_audit_record_is_one_insert(room, system_actor, django_assert_num_queries):
    """Every audited write (a token mint too) pays this, and takes no lock for it."""
    with django_assert_num_queries(1) as captured:
        # 1 the INSERT, which returns the server's time (RETURNING created_at). Nothing
        # else: the entry is sealed into the hash chain after commit, by the sealer
        # (chatrooms.auditchain.seal), not by the writer.
        services.audit_record(
            actor=system_actor, action=AuditAction.ROOM_UPDATE, room=room, after={"n": 1}
        )
    assert captured.captured_queries[0]["sql"].startswith("INSERT")


def test_a_vote_query_count(room, django_assert_num_queries):
    poll = factories.PollFactory(room=room, status=PollStatus.ACTIVE, options=["a", "b"])
    body = vote_body(poll.pk, poll.type, poll.options.first().pk)
    url = f"{B}/chatrooms/polls/{poll.pk}:vote"
    token_client(room, Role.VIEWER, subject="first").post(url, body, format="json")
    voter = token_client(room, Role.VIEWER, subject="second")

    # 1 the token's room. The active poll and its options are kept per state version
    # (the first vote read them), the voter's blocks come from the room's block index.
    # PostgreSQL: 2 one statement: the poll's status FOR SHARE, the ballot and its vote
    # rows. SQLite: 2 savepoint; 3 the poll's status; 4 savepoint; 5 the ballot;
    # 6 release; 7 the vote rows; 8 release.
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 8):
        response = voter.post(url, body, format="json")

    assert response.status_code == 200
    assert voter.post(url, body, format="json").status_code == 409
