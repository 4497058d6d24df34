"""Concurrent requests lose nothing. PostgreSQL only: SQLite serialises writers."""

import threading
import time
import uuid

import pytest
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from chatrooms import auth, services
from chatrooms.auth import Actor
from chatrooms.models import (
    AuditAction,
    AuditLogEntry,
    BlockedUser,
    ChatMessage,
    Chatroom,
    CounterIncrement,
    CustomCounter,
    PollBallot,
    PollStatus,
    Role,
)
from tests import factories
from tests.chatrooms.helpers import vote_body
from tests.conftest import roll_up

B = "/bv/chatroom/v1"

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: row locks and real concurrent writers",
    ),
    pytest.mark.django_db(transaction=True),
]


def client_for(room, role=Role.VIEWER, **claims) -> APIClient:
    issued = auth.chatroom_token_issue(room=room, role=role, **claims)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    return client


def run_together(jobs):
    """Run callables in threads released at the same moment; return their results."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)
    errors = []

    def worker(index, job):
        try:
            barrier.wait()
            results[index] = job()
        except Exception as exc:  # reported below, with the failing job
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


@pytest.fixture
def hot_room():
    room = services.chatroom_create(actor=Actor.system("tests"), custom_counter_keys=["like"])
    yield room


def started_poll(admin) -> dict:
    """A single-choice poll of two options, started by ``admin``, as the API shows it."""
    poll = admin.post(
        f"{B}/chatrooms/polls",
        {
            "poll": {
                "type": "POLL_TYPE_SINGLE_CHOICE",
                "multi_choice": {"question": "?", "options": [{"text": "a"}, {"text": "b"}]},
            }
        },
        format="json",
    ).json()["poll"]
    admin.post(
        f"{B}/chatrooms/polls/{poll['id']}:change", {"action": "ACTION_START"}, format="json"
    )
    return poll


def test_concurrent_votes_are_counted_exactly(hot_room):
    admin = client_for(hot_room, Role.ADMIN)
    poll = started_poll(admin)
    options = [o["id"] for o in poll["multi_choice"]["options"]]
    voters = [client_for(hot_room, subject=f"voter-{i}") for i in range(30)]

    def vote(client, option_id):
        body = vote_body(poll["id"], poll["type"], option_id)
        return client.post(
            f"{B}/chatrooms/polls/{poll['id']}:vote", body, format="json"
        ).status_code

    # Every voter votes twice at once: one of the two must be refused.
    jobs = [lambda c=c, i=i: vote(c, options[i % 2]) for i, c in enumerate(voters)]
    jobs += [lambda c=c, i=i: vote(c, options[(i + 1) % 2]) for i, c in enumerate(voters)]
    statuses = run_together(jobs)

    assert statuses.count(200) == 30
    assert statuses.count(409) == 30
    roll_up(hot_room)
    counted = admin.get(f"{B}/chatrooms/polls/{poll['id']}").json()["poll"]
    assert counted["status"] == PollStatus.ACTIVE
    assert counted["votes_count"] == 30
    assert sum(o["votes_count"] for o in counted["multi_choice"]["options"]) == 30


def test_concurrent_increments_are_exact_and_versions_order_them(hot_room):
    senders = [client_for(hot_room, subject=f"fan-{i}") for i in range(20)]
    reader = client_for(hot_room)
    per_sender = 10
    observed = []
    done = threading.Event()

    def tap(client):
        codes = []
        for _ in range(per_sender):
            codes.append(
                client.post(
                    f"{B}/chatrooms/messages",
                    {
                        "type": "INTERACTION_TYPE_CUSTOM",
                        "custom_message": {"incr": {"key": "like", "value": 1}},
                    },
                    format="json",
                ).status_code
            )
        return codes

    def watch():
        # Roll-ups (the realtime worker's job) and reads, while the taps arrive.
        while not done.is_set():
            roll_up(hot_room)
            counter = reader.get(f"{B}/chatrooms").json()["chatroom"]["custom_counters"][0]
            observed.append((int(counter["version_number"]), counter["value"]))
        return None

    watcher = threading.Thread(target=lambda: (watch(), connections.close_all()))
    watcher.start()
    results = run_together([lambda c=c: tap(c) for c in senders])
    done.set()
    watcher.join(timeout=60)

    assert all(code == 200 for codes in results for code in codes)
    roll_up(hot_room)
    final = reader.get(f"{B}/chatrooms").json()["chatroom"]["custom_counters"][0]
    assert final["value"] == 20 * per_sender
    # A version names one value: equal versions show equal values, and a later
    # version never shows a smaller value.
    by_version = {}
    for version, value in [*observed, (int(final["version_number"]), final["value"])]:
        assert by_version.setdefault(version, value) == value
    versions = sorted(by_version)
    assert [by_version[v] for v in versions] == sorted(by_version[v] for v in versions)


def test_votes_racing_the_close_are_each_in_the_final_count_or_refused(hot_room):
    # A vote is one statement that reads the poll's status under a share lock and
    # inserts the ballot (services._cast_ballot): the close waits for the votes in
    # flight, and the votes that come after it find the poll closed.
    admin = client_for(hot_room, Role.ADMIN)
    poll = started_poll(admin)
    path = f"{B}/chatrooms/polls/{poll['id']}"
    option = poll["multi_choice"]["options"][0]["id"]
    voters = [client_for(hot_room, subject=f"voter-{i}") for i in range(40)]

    def close():
        time.sleep(0.05)
        return admin.post(f"{path}:change", {"action": "ACTION_CLOSE"}, format="json").status_code

    def vote(client, delay):
        time.sleep(delay)  # spread over the close, so that some come before it, some after
        body = vote_body(poll["id"], poll["type"], option)
        return client.post(f"{path}:vote", body, format="json")

    jobs = [lambda c=c, i=i: vote(c, i * 0.004) for i, c in enumerate(voters)]
    jobs.insert(20, close)
    responses = run_together(jobs)

    assert responses.pop(20) == 200
    accepted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert {r.json()["details"][0]["reason"] for r in refused} <= {"POLL_NOT_ACTIVE"}
    closed = admin.get(path).json()["poll"]
    assert closed["status"] == PollStatus.CLOSED
    assert closed["votes_count"] == len(accepted)
    assert PollBallot.objects.filter(poll_id=poll["id"]).count() == len(accepted)


def test_a_tap_that_loses_its_message_id_to_another_stores_no_increment(hot_room):
    # Both sends pass the check for the id, then race to insert it: the loser's message
    # and its counter increment commit or fail together (one statement on PostgreSQL,
    # chatrooms.inserts.insert_together), so no increment outlives a refused tap.
    senders = [client_for(hot_room, subject=f"fan-{i}") for i in range(16)]
    ids = [str(uuid.uuid4()) for _ in range(8)]

    def tap(client, message_id):
        return client.post(
            f"{B}/chatrooms/messages",
            {
                "id": message_id,
                "type": "INTERACTION_TYPE_CUSTOM",
                "custom_message": {"incr": {"key": "like", "value": 1}},
            },
            format="json",
        ).status_code

    statuses = run_together([lambda c=c, i=i: tap(c, ids[i % 8]) for i, c in enumerate(senders)])

    assert statuses.count(200) == 8 and statuses.count(409) == 8
    assert ChatMessage.objects.filter(room=hot_room).count() == 8
    assert CounterIncrement.objects.filter(room=hot_room).count() == 8
    roll_up(hot_room)
    assert CustomCounter.objects.get(room=hot_room, key="like").value == 8


def test_admins_blocking_one_user_at_once_make_one_block(hot_room):
    admins = [client_for(hot_room, Role.ADMIN, subject=f"admin-{i}") for i in range(12)]

    statuses = run_together(
        [
            lambda c=c: (
                c.post(
                    f"{B}/chatrooms/users:block", {"blocked_user": {"id": "troll"}}, format="json"
                ).status_code
            )
            for c in admins
        ]
    )

    assert statuses == [200] * 12
    assert BlockedUser.objects.filter(room=hot_room, user_id="troll").count() == 1
    assert AuditLogEntry.objects.filter(action=AuditAction.USER_BLOCK).count() == 1


def test_concurrent_viewer_info_toggles_bump_the_version_once_per_change(hot_room):
    admins = [client_for(hot_room, Role.ADMIN, subject=f"admin-{i}") for i in range(20)]

    run_together(
        [
            lambda c=c, i=i: c.put(
                f"{B}/chatrooms/viewer-infos",
                {"viewer_info": {"enabled": i % 2 == 0}},
                format="json",
            )
            for i, c in enumerate(admins)
        ]
    )

    changes = AuditLogEntry.objects.filter(action=AuditAction.VIEWER_INFO_UPDATE).count()
    hot_room = Chatroom.objects.get(pk=hot_room.pk)
    assert hot_room.viewer_info_version == changes >= 1


def test_in_slow_mode_concurrent_sends_of_one_user_let_exactly_one_through(hot_room):
    services.chatroom_set_slow_mode(actor=Actor.system("tests"), room=hot_room, seconds=60)
    # Several tokens of one user (several devices), and a second user beside them.
    devices = [client_for(hot_room, subject="ann", device_id=f"ann-{i}") for i in range(8)]
    other = [client_for(hot_room, subject="bob", device_id=f"bob-{i}") for i in range(8)]

    def send(client, words):
        return client.post(
            f"{B}/chatrooms/messages",
            {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": words}},
            format="json",
        ).status_code

    statuses = run_together(
        [lambda c=c: send(c, "ann") for c in devices] + [lambda c=c: send(c, "bob") for c in other]
    )

    assert statuses[:8].count(200) == 1 and statuses[:8].count(429) == 7
    assert statuses[8:].count(200) == 1 and statuses[8:].count(429) == 7
    assert sorted(ChatMessage.objects.values_list("user_id", flat=True)) == ["ann", "bob"]


def test_refreshes_racing_revocations_neither_deadlock_nor_survive(hot_room):
    """Refreshes lock a session before its refresh token, as revocations do (issue 9, #1)."""
    actor = Actor.system("tests")
    minted = [auth.chatroom_token_issue(room=hot_room, subject=f"u{i % 4}") for i in range(16)]

    def refresh(issued):
        def job():
            try:
                return auth.chatroom_token_refresh(refresh_token=issued.refresh_token).token
            except auth.Unauthenticated:
                return None

        return job

    def end(user_id):
        return lambda: services.user_sessions_revoke(actor=actor, room=hot_room, user_id=user_id)

    jobs = [refresh(issued) for issued in minted] + [end(f"u{i}") for i in range(4)]
    tokens = run_together(jobs)[:16]

    # Every session ended: whatever a refresh returned before its revocation is refused.
    for token in filter(None, tokens):
        with pytest.raises(auth.Unauthenticated):
            auth.chatroom_token_verify(token)


def test_concurrent_purges_and_deletes_delete_each_message_once(hot_room):
    # Two moderators purge the same spammer while a third deletes one of the messages:
    # every message ends deleted once, and the purges' counts add up to the rest.
    messages = [
        factories.ChatMessageFactory(room=hot_room, user_id="spammer", received_at=timezone.now())
        for _ in range(40)
    ]
    ana, bo, cy = (Actor.system(name) for name in ("ana", "bo", "cy"))

    def purge(actor):
        return lambda: services.messages_purge(
            actor=actor, room=hot_room, user_id="spammer", minutes=5
        )

    def delete_one():
        try:
            services.message_delete(actor=cy, room=hot_room, message_id=messages[7].pk)
            return 1
        except services.NotFound:
            return 0

    first, second, deleted = run_together([purge(ana), purge(bo), delete_one])

    assert len(first.deleted_ids) + len(second.deleted_ids) + deleted == 40
    assert not set(first.deleted_ids) & set(second.deleted_ids)
    assert not ChatMessage.objects.filter(room=hot_room, deleted_at__isnull=True).exists()
    purges = AuditLogEntry.objects.filter(action=AuditAction.MESSAGES_PURGE)
    assert sum(entry.after["deleted"] for entry in purges) + deleted == 40


def test_moderators_toggling_lockdown_together_never_lose_the_settings_from_before(hot_room):
    """Two moderators click on and off at once, many times: each click is on or off
    exactly once, the audit rows alternate, and the last "off" restores the room."""
    services.chatroom_set_slow_mode(actor=Actor.system("tests"), room=hot_room, seconds=7)
    services.chatroom_lockdown_configure(
        actor=Actor.system("tests"),
        room=hot_room,
        slow_mode_seconds=60,
        mute_viewers=True,
        hold_new_users_minutes=10,
    )
    ana, bob = (Actor.staff(factories.StaffUserFactory(username=n)) for n in ("ana", "bob"))
    jobs = []
    for i in range(10):
        actor = ana if i % 2 else bob
        jobs.append(lambda a=actor: services.chatroom_lockdown_start(actor=a, room=hot_room))
        jobs.append(lambda a=actor: services.chatroom_lockdown_end(actor=a, room=hot_room))

    results = run_together(jobs)
    services.chatroom_lockdown_end(actor=ana, room=hot_room)

    changes = sum(changed for _lockdown, changed in results)
    rows = list(
        AuditLogEntry.objects.filter(action__in=[AuditAction.LOCKDOWN_ON, AuditAction.LOCKDOWN_OFF])
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert rows[::2] == [AuditAction.LOCKDOWN_ON] * len(rows[::2])
    assert rows[1::2] == [AuditAction.LOCKDOWN_OFF] * len(rows[1::2])
    assert len(rows) in (changes, changes + 1)  # + the final "off" if one was still needed
    room = Chatroom.objects.get(pk=hot_room.pk)
    assert (room.slow_mode_seconds, room.muted, room.new_user_hold_minutes) == (7, False, 0)
