"""History with blocked senders: hidden in SQL, so a flood costs what a quiet room does
(issue 9, #3).

Messages of a user blocked in the room (by user id, or by the device id the block
recorded) are shown only to admins and to their sender. ``ChatMessage.sender_hidden``
carries that rule in the row: set when a blocked sender's message is stored, set on
the sender's earlier messages by ``user_block``, cleared by ``user_unblock`` and by
``blocks_release_expired`` (which the realtime worker's periodic scan calls) unless
another active block still covers the message.
"""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chatrooms import selectors, services
from chatrooms.api.serializers import format_timestamp
from chatrooms.auth import Actor
from chatrooms.models import BlockedUser, ChatMessage, InteractionType, Role
from tests import factories
from tests.conftest import token_client

B = "/bv/chatroom/v1"
URL = f"{B}/chatrooms/messages"

pytestmark = pytest.mark.django_db

START = services.wire_time(timezone.now() - timedelta(hours=2))


def messages(room, senders, *, start=START, device=None, prefix="m", **fields):
    """One stored message per item of ``senders`` (user ids), a second apart from
    ``start``, texted ``<prefix><i>``; bulk-inserted as the seeding and floods are."""
    rows = [
        ChatMessage(
            room=room,
            type=InteractionType.TEXT,
            user_id=sender,
            user_device_id=device or f"{sender}-device",
            text=f"{prefix}{i}",
            sent_at=start + timedelta(seconds=i),
            received_at=start + timedelta(seconds=i),
            **fields,
        )
        for i, sender in enumerate(senders)
    ]
    return ChatMessage.objects.bulk_create(rows)


def history(client, **params) -> list[dict]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()["messages"]


def texts(page) -> list[str]:
    return [
        m["text_message"]["text"] if "text_message" in m else m["custom_message"]["value"]
        for m in page
    ]


def sender(room, user_id, device_id="", role=Role.VIEWER):
    return Actor.for_token(
        token_client(room, role, subject=user_id, device_id=device_id or f"{user_id}-device").claims
    )


def send(room, actor, text, n=1):
    at = services.wire_time(timezone.now())
    incoming = [
        services.IncomingMessage(
            actor=actor, type=InteractionType.TEXT, sent_at=at, text=f"{text}{i}" if n > 1 else text
        )
        for i in range(n)
    ]
    return services.messages_send(room=room, incoming=incoming).stored


def hidden_flags(room) -> dict[str, bool]:
    return dict(ChatMessage.objects.filter(room=room).values_list("text", "sender_hidden"))


# --- The flood: one page query, whatever the spammer sent ------------------------------


FLOOD = 3000


@pytest.mark.parametrize("blocked", ["after sending", "while sending"])
def test_a_blocked_flood_at_the_newest_end_costs_one_page_query(
    room, system_actor, blocked, django_assert_num_queries
):
    messages(room, [f"fan{i}" for i in range(150)])
    if blocked == "while sending":
        services.user_block(actor=system_actor, room=room, user_id="spammer")
    messages(
        room,
        ["spammer"] * FLOOD,
        start=START + timedelta(minutes=10),
        sender_hidden=blocked == "while sending",  # as messages_send stores them then
    )
    if blocked == "after sending":
        services.user_block(actor=system_actor, room=room, user_id="spammer")
    viewer = token_client(room, Role.VIEWER, subject="bystander")

    with django_assert_num_queries(3):
        # 1 the token's room; 2 the page: the visible messages and the viewer's own
        # hidden ones (UNION ALL of two index scans), at most `limit` of each; 3 the
        # active blocks of the page's senders (the safety net, and `user.blocked`)
        page = history(viewer, limit=100)

    assert texts(page) == [f"m{i}" for i in range(149, 49, -1)]
    assert not any(m["user"]["blocked"] for m in page)


def test_the_flooders_own_history_and_an_admins_cost_one_page_query_too(
    room, system_actor, django_assert_num_queries
):
    messages(room, [f"fan{i}" for i in range(150)])
    messages(room, ["spammer"] * FLOOD, start=START + timedelta(minutes=10))
    services.user_block(actor=system_actor, room=room, user_id="spammer")
    spammer = token_client(room, Role.VIEWER, subject="spammer", device_id="spammer-device")
    admin = token_client(room, Role.ADMIN, subject="host")

    history(spammer, limit=1)  # the room's block index is read once per state version
    for client in (spammer, admin):
        with django_assert_num_queries(2):  # the token's room; the page
            page = history(client, limit=100)
        assert [m["user"]["id"] for m in page] == ["spammer"] * 100
        assert all(m["user"]["blocked"] for m in page)


def test_a_block_hides_the_senders_earlier_messages_in_that_room_only(room, system_actor):
    elsewhere = factories.ChatroomFactory()
    messages(room, ["spammer", "fan", "spammer"])
    messages(elsewhere, ["spammer"])

    services.user_block(actor=system_actor, room=room, user_id="spammer")

    assert hidden_flags(room) == {"m0": True, "m1": False, "m2": True}
    assert hidden_flags(elsewhere) == {"m0": False}


def test_a_blocked_senders_new_messages_are_stored_hidden(room, system_actor):
    services.user_block(actor=system_actor, room=room, user_id="spammer")

    send(room, sender(room, "spammer"), "spam")
    send(room, sender(room, "fan"), "hello")

    stored = {m.text: (m.user_blocked, m.sender_hidden) for m in ChatMessage.objects.all()}
    assert stored == {"spam": (True, True), "hello": (False, False)}


# --- Who sees what ---------------------------------------------------------------------


def test_hidden_from_viewers_shown_to_the_sender_and_to_admins(room, system_actor):
    messages(room, ["fan", "spammer", "fan", "spammer"])
    services.user_block(actor=system_actor, room=room, user_id="spammer")
    viewer = token_client(room, Role.VIEWER, subject="bystander")
    spammer = token_client(room, Role.VIEWER, subject="spammer")
    admin = token_client(room, Role.ADMIN, subject="host")

    assert texts(history(viewer)) == ["m2", "m0"]
    assert texts(history(spammer)) == ["m3", "m2", "m1", "m0"]
    seen_by_admin = history(admin)
    assert texts(seen_by_admin) == ["m3", "m2", "m1", "m0"]
    assert [m["user"]["blocked"] for m in seen_by_admin] == [True, False, True, False]


def test_unblocking_shows_the_messages_again(room, system_actor):
    messages(room, ["fan", "spammer", "spammer"])
    services.user_block(actor=system_actor, room=room, user_id="spammer")

    services.user_unblock(actor=system_actor, room=room, user_id="spammer")

    assert hidden_flags(room) == {"m0": False, "m1": False, "m2": False}
    viewer = token_client(room, Role.VIEWER, subject="bystander")
    page = history(viewer)
    assert texts(page) == ["m2", "m1", "m0"]
    assert not any(m["user"]["blocked"] for m in page)


def test_a_device_block_hides_every_identity_on_that_device(room, system_actor):
    # Guests get a new user id with every token but keep their device.
    messages(room, ["guest-a", "guest-b", "fan"], device="phone")
    messages(room, ["fan"], start=START + timedelta(minutes=1), device="fan-phone", prefix="f")
    services.user_block(actor=system_actor, room=room, user_id="guest-a", device_id="phone")
    send(room, sender(room, "guest-c", device_id="phone", role=Role.GUEST), "new identity")
    viewer = token_client(room, Role.VIEWER, subject="bystander")

    assert hidden_flags(room) == {
        "m0": True,
        "m1": True,
        "m2": True,
        "new identity": True,
        "f0": False,
    }
    assert texts(history(viewer)) == ["f0"]


def test_unblocking_keeps_hidden_what_another_block_still_covers(room, system_actor):
    messages(room, ["guest-a", "guest-b"], device="phone")
    messages(room, ["guest-b"], start=START + timedelta(minutes=1), device="tablet")
    services.user_block(actor=system_actor, room=room, user_id="guest-a", device_id="phone")
    services.user_block(actor=system_actor, room=room, user_id="guest-b")

    services.user_unblock(actor=system_actor, room=room, user_id="guest-a")

    flags = {
        (m.user_id, m.user_device_id): m.sender_hidden
        for m in ChatMessage.objects.filter(room=room)
    }
    # guest-a's message shows again; guest-b is still blocked by id, on any device
    assert flags == {("guest-a", "phone"): False, ("guest-b", "phone"): True,
                     ("guest-b", "tablet"): True}  # fmt: skip


def test_deleted_messages_stay_hidden_from_viewers_and_their_sender(
    room, system_actor, admin_token_client
):
    rows = messages(room, ["fan", "spammer", "fan", "spammer"])
    services.user_block(actor=system_actor, room=room, user_id="spammer")
    actor = Actor.system("tests")
    for row in (rows[2], rows[3]):
        services.message_delete(actor=actor, room=room, message_id=row.pk)
    viewer = token_client(room, Role.VIEWER, subject="bystander")
    spammer = token_client(room, Role.VIEWER, subject="spammer")

    assert texts(history(viewer)) == ["m0"]
    assert texts(history(spammer)) == ["m1", "m0"]
    assert texts(history(admin_token_client)) == ["m3", "m2", "m1", "m0"]


# --- Timed blocks ----------------------------------------------------------------------


def expire(block):
    """Move a timed block's end into the past (a block cannot be made that way)."""
    BlockedUser.objects.filter(pk=block.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_an_expired_block_is_released_by_the_service(room, system_actor):
    messages(room, ["fan", "spammer"])
    block, _ = services.user_block(
        actor=system_actor,
        room=room,
        user_id="spammer",
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    viewer = token_client(room, Role.VIEWER, subject="bystander")
    expire(block)
    # Until the release runs (the realtime worker's scan, every 0.2 s) the messages
    # stay hidden, though the block no longer shows in the room state.
    assert texts(history(viewer)) == ["m0"]

    assert services.blocks_release_expired() == 1

    page = history(viewer)
    assert texts(page) == ["m1", "m0"]
    assert not any(m["user"]["blocked"] for m in page)
    block.refresh_from_db()
    assert block.unblocked_at == block.expires_at  # closed: the next scan skips it
    assert services.blocks_release_expired() == 0


def test_releasing_keeps_hidden_what_another_active_block_covers(room, system_actor):
    messages(room, ["guest-a"], device="phone")
    timed, _ = services.user_block(
        actor=system_actor,
        room=room,
        user_id="guest-a",
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    services.user_block(actor=system_actor, room=room, user_id="guest-z", device_id="phone")
    expire(timed)

    assert services.blocks_release_expired() == 1

    assert hidden_flags(room) == {"m0": True}


def test_the_release_scan_is_one_index_probe(room, system_actor):
    services.user_block(actor=system_actor, room=room, user_id="forever")
    services.user_block(
        actor=system_actor,
        room=room,
        user_id="later",
        expires_at=timezone.now() + timedelta(minutes=5),
    )

    with CaptureQueriesContext(connection) as scan:
        assert services.blocks_release_expired() == 0

    assert len(scan) == 1  # what the worker runs every 0.2 s when nothing expired
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")  # as a table of many blocks would
            cursor.execute(f"EXPLAIN {scan[0]['sql']}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("RESET enable_seqscan")
        assert "chatrooms_block_expiry_idx" in plan, plan


# --- The safety net --------------------------------------------------------------------


def test_a_message_stored_after_a_racing_block_is_still_hidden(room, system_actor):
    """A send that checked for blocks before a block committed, and committed after
    the block's update, leaves a row unflagged: the per-row check still hides it."""
    messages(room, [f"fan{i}" for i in range(10)])
    services.user_block(actor=system_actor, room=room, user_id="spammer")
    messages(room, ["spammer"] * 30, start=START + timedelta(minutes=1))  # not flagged
    viewer = token_client(room, Role.VIEWER, subject="bystander")

    page = history(viewer, limit=5)

    assert texts(page) == ["m9", "m8", "m7", "m6", "m5"]


def test_a_block_made_without_the_service_still_hides(room):
    messages(room, ["fan", "spammer"])
    factories.BlockedUserFactory(room=room, user_id="spammer")
    viewer = token_client(room, Role.VIEWER, subject="bystander")

    assert texts(history(viewer)) == ["m0"]


# --- Paging across hidden rows ---------------------------------------------------------


def burst_room(room, system_actor):
    """40 messages: a spammer's burst (m5..m34) between two stretches of real chat,
    every other one of them a custom message."""
    senders = ["spammer" if 5 <= i < 35 else f"fan{i}" for i in range(40)]
    rows = messages(room, senders)
    for row in rows[::2]:
        row.type, row.payload = InteractionType.CUSTOM, {"custom_message": {"value": row.text}}
    ChatMessage.objects.bulk_update(rows[::2], ["type", "payload"])
    services.user_block(actor=system_actor, room=room, user_id="spammer")
    return rows


def page_through(client, limit, **params) -> list[str]:
    seen = []
    cursor = "after_at" if params.get("from_oldest") else "before_at"
    while page := history(client, limit=limit, **params):
        assert len(page) <= limit
        seen += texts(page)
        params[cursor] = page[-1]["received_at"]
    return seen


VISIBLE = [i for i in range(40) if not 5 <= i < 35]


@pytest.mark.parametrize("limit", [1, 4, 100])
@pytest.mark.parametrize("from_oldest", [False, True])
def test_paging_skips_hidden_rows_for_viewers(room, system_actor, limit, from_oldest):
    burst_room(room, system_actor)
    viewer = token_client(room, Role.VIEWER, subject="bystander")
    params = {"from_oldest": "true"} if from_oldest else {}

    order = VISIBLE if from_oldest else VISIBLE[::-1]
    assert page_through(viewer, limit, **params) == [f"m{i}" for i in order]


@pytest.mark.parametrize("limit", [1, 4, 100])
@pytest.mark.parametrize("from_oldest", [False, True])
def test_paging_merges_the_senders_own_hidden_rows(room, system_actor, limit, from_oldest):
    burst_room(room, system_actor)
    spammer = token_client(room, Role.VIEWER, subject="spammer")
    params = {"from_oldest": "true"} if from_oldest else {}

    order = range(40) if from_oldest else range(39, -1, -1)
    assert page_through(spammer, limit, **params) == [f"m{i}" for i in order]


def test_types_and_time_bounds_apply_to_both_kinds_of_rows(room, system_actor):
    rows = burst_room(room, system_actor)
    viewer = token_client(room, Role.VIEWER, subject="bystander")
    spammer = token_client(room, Role.VIEWER, subject="spammer")
    custom = {"types": InteractionType.CUSTOM}
    after = {"from_oldest": "true", "after_at": format_timestamp(rows[3].received_at)}
    before = {"before_at": format_timestamp(rows[36].received_at)}

    assert texts(history(viewer, limit=100, **custom)) == [
        f"m{i}" for i in VISIBLE[::-1] if i % 2 == 0
    ]
    assert texts(history(spammer, limit=100, **custom)) == [
        f"m{i}" for i in range(39, -1, -1) if i % 2 == 0
    ]
    assert texts(history(viewer, limit=3, **after)) == ["m4", "m35", "m36"]
    assert texts(history(spammer, limit=3, **after)) == ["m4", "m5", "m6"]
    assert texts(history(viewer, limit=3, **before)) == ["m35", "m4", "m3"]
    assert texts(history(spammer, limit=3, **before)) == ["m35", "m34", "m33"]


def test_rows_at_the_same_instant_page_by_id(room, system_actor):
    # The realtime worker stores a batch with one received_at.
    at = START + timedelta(minutes=3)
    rows = ChatMessage.objects.bulk_create(
        ChatMessage(
            id=uuid.UUID(int=i + 1),
            room=room,
            type=InteractionType.TEXT,
            user_id="spammer" if i % 3 == 0 else "fan",
            text=f"m{i}",
            sent_at=at,
            received_at=at,
        )
        for i in range(12)
    )
    services.user_block(actor=system_actor, room=room, user_id="spammer")
    spammer = token_client(room, Role.VIEWER, subject="spammer")
    viewer = token_client(room, Role.VIEWER, subject="bystander")

    # One cursor (received_at) cannot split a batch: a page holds at most `limit`,
    # and the selector, paging by (received_at, id) inside, skips none of it.
    assert texts(history(spammer, limit=12)) == [f"m{i}" for i in range(11, -1, -1)]
    assert texts(history(viewer, limit=12)) == [f"m{i}" for i in range(11, -1, -1) if i % 3 != 0]
    assert len(rows) == 12


def test_the_selector_reads_at_most_a_page_of_each_kind(room, system_actor):
    messages(room, [f"fan{i}" for i in range(50)])
    messages(room, ["spammer"] * 500, start=START + timedelta(minutes=10))
    services.user_block(actor=system_actor, room=room, user_id="spammer")

    with CaptureQueriesContext(connection) as queries:
        page = selectors.message_list(
            room=room, viewer_id="bystander", viewer_is_admin=False, limit=10
        )

    assert [m.text for m in page] == [f"m{i}" for i in range(49, 39, -1)]
    # the page (both arms, LIMIT 10 each); the room's block index (once per state version)
    assert len(queries) == 2
    assert "LIMIT 10" in queries[0]["sql"]


# --- The plan without statistics (PostgreSQL) --------------------------------------------


def test_viewer_history_uses_the_partial_index_without_statistics(room, system_actor):
    """Autovacuum may be off, so the table may never have been analyzed (in the test
    database it normally has not been): the plan must not need statistics to take the
    indexes. bench/blocked_history.py shows the same plan on 100,000 rows never analyzed."""
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN output and planner statistics are PostgreSQL's")
    messages(room, [f"fan{i}" for i in range(200)])
    messages(room, ["spammer"] * 2000, start=START + timedelta(minutes=10))
    services.user_block(actor=system_actor, room=room, user_id="spammer")
    with connection.cursor() as cursor:
        page = selectors.viewer_page_queryset(
            room=room, viewer_id="bystander", order=("-received_at", "-id"), batch=100
        )
        sql, params = page.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "chatrooms_msg_visible_idx" in plan, plan
    assert "chatrooms_msg_sender_idx" in plan, plan
    assert "Seq Scan" not in plan, plan


# --- Races (PostgreSQL: SQLite serialises writers) ----------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers")
@pytest.mark.django_db(transaction=True)
def test_an_unblock_waits_for_a_blocked_senders_send_in_flight(room, system_actor):
    """Else the unblock's UPDATE misses the uncommitted row, which then stays hidden
    for good: the per-row check only ever hides more, never shows."""
    services.user_block(actor=system_actor, room=room, user_id="troll")
    troll = sender(room, "troll")
    sent, go, errors = threading.Event(), threading.Event(), []

    def send_and_hold():
        try:
            with transaction.atomic():
                send(room, troll, "sent while blocked")
                sent.set()
                go.wait(10)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def unblock():
        try:
            services.user_unblock(actor=system_actor, room=room, user_id="troll")
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    sender_thread = threading.Thread(target=send_and_hold)
    sender_thread.start()
    assert sent.wait(10)
    unblock_thread = threading.Thread(target=unblock)
    unblock_thread.start()
    unblock_thread.join(0.5)
    waited = unblock_thread.is_alive()
    go.set()
    sender_thread.join(10)
    unblock_thread.join(10)

    assert not errors, errors
    assert waited  # on the room row the send share-locked
    message = ChatMessage.objects.get(text="sent while blocked")
    assert (message.user_blocked, message.sender_hidden) == (True, False)
