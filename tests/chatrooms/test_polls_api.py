"""Polls: create, list, get, edit, delete, the status machine, and votes."""

import uuid

import pytest

from chatrooms import services
from chatrooms.errors import AlreadyExists, FailedPrecondition, NotFound, PermissionDenied
from chatrooms.models import AuditAction, AuditLogEntry, Poll, PollStatus, Role
from tests.chatrooms.helpers import TIMESTAMP, assert_status, field_violations
from tests.conftest import roll_up

B = "/bv/chatroom/v1"
POLLS = f"{B}/chatrooms/polls"

pytestmark = pytest.mark.django_db


def poll_body(
    options=("Red", "Blue"), type="POLL_TYPE_SINGLE_CHOICE", question="Colour?", correct=()
):
    return {
        "poll": {
            "type": type,
            "multi_choice": {
                "question": question,
                "options": [{"text": text, "corrected": text in correct} for text in options],
            },
        }
    }


def create(client, **kwargs) -> dict:
    response = client.post(POLLS, poll_body(**kwargs), format="json")
    assert response.status_code == 200, response.content
    return response.json()["poll"]


def change(client, poll_id, action):
    return client.post(
        f"{POLLS}/{poll_id}:change",
        {"action": action, "action_taker": {"custom_name": "H"}},
        format="json",
    )


def vote(client, poll, *option_indexes, type=None):
    options = [{"id": poll["multi_choice"]["options"][i]["id"]} for i in option_indexes]
    return client.post(
        f"{POLLS}/{poll['id']}:vote",
        {
            "vote": {
                "poll": {
                    "id": poll["id"],
                    "type": type or poll["type"],
                    "multi_choice": {"options": options},
                }
            }
        },
        format="json",
    )


def get(client, poll_id) -> dict:
    """The poll as its room's realtime worker would show it: counts rolled up."""
    roll_up(Poll.objects.get(pk=poll_id).room)
    return client.get(f"{POLLS}/{poll_id}").json()["poll"]


def test_create_returns_a_queued_poll(admin_token_client):
    poll = create(admin_token_client, correct=["Blue"])

    uuid.UUID(poll["id"])
    assert poll["status"] == PollStatus.QUEUED
    assert poll["votes_count"] == 0
    assert poll["started_at"] is None and poll["ended_at"] is None
    assert [
        (o["text"], o["corrected"], o["votes_count"]) for o in poll["multi_choice"]["options"]
    ] == [("Red", False, 0), ("Blue", True, 0)]
    assert AuditLogEntry.objects.filter(action=AuditAction.POLL_CREATE).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (poll_body(options=["Only one"]), "poll.multi_choice.options"),
        (
            poll_body(options=[f"o{i}" for i in range(services.MAX_POLL_OPTIONS + 1)]),
            "poll.multi_choice.options",
        ),
        (
            {
                "poll": {
                    "multi_choice": {"question": "Q", "options": [{"text": "a"}, {"text": "b"}]}
                }
            },
            "poll.type",
        ),
        (poll_body(type="POLL_TYPE_RANKED"), "poll.type"),
        (poll_body(question=""), "poll.multi_choice.question"),
        (poll_body(options=["", "b"]), "poll.multi_choice.options[0].text"),
        ({}, "poll"),
    ],
)
def test_invalid_polls_are_400(admin_token_client, body, field):
    response = admin_token_client.post(POLLS, body, format="json")

    assert field in field_violations(assert_status(response, 400, 3))
    assert Poll.objects.count() == 0


def test_a_room_holds_at_most_50_polls(admin_token_client):
    for _ in range(services.MAX_POLLS_PER_ROOM):
        create(admin_token_client)

    response = admin_token_client.post(POLLS, poll_body(), format="json")

    body = assert_status(response, 429, 8)
    assert body["details"][-1]["reason"] == "TOO_MANY_POLLS"


def test_full_lifecycle_sets_times_and_active_poll(admin_token_client):
    poll = create(admin_token_client)

    assert change(admin_token_client, poll["id"], "ACTION_START").json() == {}
    started = get(admin_token_client, poll["id"])
    assert started["status"] == PollStatus.ACTIVE
    assert TIMESTAMP.match(started["started_at"])
    room_state = admin_token_client.get(f"{B}/chatrooms").json()["chatroom"]
    assert room_state["active_poll"]["id"] == poll["id"]

    change(admin_token_client, poll["id"], "ACTION_CLOSE")
    closed = get(admin_token_client, poll["id"])
    assert closed["status"] == PollStatus.CLOSED
    assert TIMESTAMP.match(closed["ended_at"])
    assert admin_token_client.get(f"{B}/chatrooms").json()["chatroom"]["active_poll"] is None

    change(admin_token_client, poll["id"], "ACTION_ARCHIVE")
    assert get(admin_token_client, poll["id"])["status"] == PollStatus.ARCHIVED
    actions = set(AuditLogEntry.objects.values_list("action", flat=True))
    assert {AuditAction.POLL_START, AuditAction.POLL_CLOSE, AuditAction.POLL_ARCHIVE} <= actions


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (PollStatus.QUEUED, "ACTION_CLOSE"),
        (PollStatus.QUEUED, "ACTION_ARCHIVE"),
        (PollStatus.ACTIVE, "ACTION_START"),
        (PollStatus.ACTIVE, "ACTION_ARCHIVE"),
        (PollStatus.CLOSED, "ACTION_START"),
        (PollStatus.ARCHIVED, "ACTION_CLOSE"),
    ],
)
def test_illegal_transitions_are_failed_precondition(admin_token_client, status, action):
    poll = create(admin_token_client)
    Poll.objects.filter(pk=poll["id"]).update(status=status)

    response = change(admin_token_client, poll["id"], action)

    body = assert_status(response, 400, FailedPrecondition.grpc_code)
    assert body["details"][-1]["reason"] == "POLL_WRONG_STATUS"
    assert Poll.objects.get(pk=poll["id"]).status == status


def test_starting_a_second_poll_while_one_is_active(admin_token_client):
    first, second = create(admin_token_client), create(admin_token_client)
    change(admin_token_client, first["id"], "ACTION_START")

    response = change(admin_token_client, second["id"], "ACTION_START")

    body = assert_status(response, 400, FailedPrecondition.grpc_code)
    assert body["details"][-1]["reason"] == "POLL_ALREADY_ACTIVE"
    assert get(admin_token_client, second["id"])["status"] == PollStatus.QUEUED


def test_unknown_action_is_400(admin_token_client):
    poll = create(admin_token_client)

    response = change(admin_token_client, poll["id"], "ACTION_EXPLODE")

    assert "action" in field_violations(assert_status(response, 400, 3))


def test_edit_a_queued_poll_keeps_option_ids(admin_token_client):
    poll = create(admin_token_client, options=["A", "B", "C"])
    a, b, _c = poll["multi_choice"]["options"]
    body = {
        "poll": {
            "type": "POLL_TYPE_MULTI_CHOICE",
            "multi_choice": {
                "question": "Pick any",
                "options": [
                    {"id": b["id"], "text": "B!", "corrected": True},
                    {"text": "D", "corrected": False},
                    {"id": a["id"], "text": "A", "corrected": False},
                ],
            },
        }
    }

    response = admin_token_client.put(f"{POLLS}/{poll['id']}", body, format="json")

    assert response.status_code == 200
    edited = response.json()["poll"]
    assert edited["type"] == "POLL_TYPE_MULTI_CHOICE"
    assert edited["multi_choice"]["question"] == "Pick any"
    options = edited["multi_choice"]["options"]
    assert [o["text"] for o in options] == ["B!", "D", "A"]
    assert options[0]["id"] == b["id"] and options[2]["id"] == a["id"]
    assert options[0]["corrected"] is True


def test_edit_rejects_options_of_another_poll(admin_token_client):
    poll, other = create(admin_token_client), create(admin_token_client)
    foreign = other["multi_choice"]["options"][0]["id"]
    body = poll_body()
    body["poll"]["multi_choice"]["options"][0]["id"] = foreign

    response = admin_token_client.put(f"{POLLS}/{poll['id']}", body, format="json")

    assert "poll.multi_choice.options[0].id" in field_violations(assert_status(response, 400, 3))


def test_only_a_queued_poll_can_be_edited(admin_token_client):
    poll = create(admin_token_client)
    change(admin_token_client, poll["id"], "ACTION_START")

    response = admin_token_client.put(
        f"{POLLS}/{poll['id']}", poll_body(question="New?"), format="json"
    )

    assert_status(response, 400, FailedPrecondition.grpc_code)
    assert get(admin_token_client, poll["id"])["multi_choice"]["question"] == "Colour?"


def test_delete(admin_token_client):
    poll = create(admin_token_client)

    assert admin_token_client.delete(f"{POLLS}/{poll['id']}").json() == {}
    assert_status(admin_token_client.get(f"{POLLS}/{poll['id']}"), 404, NotFound.grpc_code)
    assert_status(admin_token_client.delete(f"{POLLS}/{poll['id']}"), 404, NotFound.grpc_code)


def test_an_active_poll_cannot_be_deleted(admin_token_client):
    poll = create(admin_token_client)
    change(admin_token_client, poll["id"], "ACTION_START")

    response = admin_token_client.delete(f"{POLLS}/{poll['id']}")

    assert_status(response, 400, FailedPrecondition.grpc_code)


def test_list_pages_with_page_token(admin_token_client):
    created = [create(admin_token_client, question=f"Q{i}") for i in range(7)]
    seen, token = [], None
    while True:
        params = {"page_size": 3, **({"page_token": token} if token else {})}
        page = admin_token_client.get(POLLS, params).json()
        seen += [p["id"] for p in page["polls"]]
        token = page["next_page_token"]
        if not token:
            break

    assert seen == [p["id"] for p in created]


def test_list_page_size_defaults_to_10_and_caps_at_100(admin_token_client):
    for _ in range(12):
        create(admin_token_client)

    assert len(admin_token_client.get(POLLS).json()["polls"]) == 10
    assert len(admin_token_client.get(POLLS, {"page_size": 10**9}).json()["polls"]) == 12
    assert_status(admin_token_client.get(POLLS, {"page_size": 0}), 400, 3)
    assert_status(admin_token_client.get(POLLS, {"page_token": "garbage!"}), 400, 3)


def test_a_query_parameter_given_twice_or_empty_is_refused(admin_token_client):
    # Found by the schema fuzzer: the last of several values was read, and an empty one
    # read as absent, where the schema says one integer.
    twice = admin_token_client.get(POLLS + "?page_size=1&page_size=2")
    assert_status(twice, 400, 3)
    assert field_violations(twice.json()) == {"page_size": "Give it once."}
    assert_status(admin_token_client.get(POLLS + "?page_size="), 400, 3)


def test_viewers_see_no_drafts_and_no_answers_before_the_end(
    admin_token_client, viewer_token_client
):
    create(admin_token_client, question="Draft")
    live = create(admin_token_client, question="Live", correct=["Red"])
    change(admin_token_client, live["id"], "ACTION_START")

    (listed,) = viewer_token_client.get(POLLS).json()["polls"]
    assert listed["multi_choice"]["question"] == "Live"
    assert not any(o["corrected"] for o in listed["multi_choice"]["options"])
    state = viewer_token_client.get(f"{B}/chatrooms").json()["chatroom"]
    assert not any(o["corrected"] for o in state["active_poll"]["multi_choice"]["options"])

    change(admin_token_client, live["id"], "ACTION_CLOSE")

    (listed,) = viewer_token_client.get(POLLS).json()["polls"]
    assert [o["corrected"] for o in listed["multi_choice"]["options"]] == [True, False]


@pytest.fixture
def active_poll(admin_token_client):
    poll = create(admin_token_client, options=["Red", "Blue", "Green"])
    change(admin_token_client, poll["id"], "ACTION_START")
    return poll


def test_votes_are_counted_on_the_poll_and_its_options(
    active_poll, room, make_token_client, admin_token_client
):
    for index, choice in enumerate([0, 1, 1]):
        voter = make_token_client(room, Role.VIEWER, subject=f"v{index}")
        assert vote(voter, active_poll, choice).json() == {}

    counted = get(admin_token_client, active_poll["id"])
    assert counted["votes_count"] == 3
    assert [o["votes_count"] for o in counted["multi_choice"]["options"]] == [1, 2, 0]


def test_one_vote_per_voter(active_poll, viewer_token_client, admin_token_client):
    vote(viewer_token_client, active_poll, 0)

    response = vote(viewer_token_client, active_poll, 1)

    body = assert_status(response, 409, AlreadyExists.grpc_code)
    assert body["details"][-1]["reason"] == "ALREADY_VOTED"
    assert get(admin_token_client, active_poll["id"])["votes_count"] == 1


def test_guests_vote_once_per_device(active_poll, room, make_token_client):
    first = make_token_client(room, Role.GUEST, device_id="tablet")
    again = make_token_client(room, Role.GUEST, device_id="tablet")  # new subject

    assert vote(first, active_poll, 0).status_code == 200
    assert_status(vote(again, active_poll, 0), 409, AlreadyExists.grpc_code)


def test_single_choice_takes_exactly_one_option(active_poll, viewer_token_client):
    assert_status(vote(viewer_token_client, active_poll, 0, 1), 400, 3)
    assert_status(vote(viewer_token_client, active_poll), 400, 3)


def test_multi_choice_takes_several_distinct_options(admin_token_client, viewer_token_client):
    poll = create(admin_token_client, type="POLL_TYPE_MULTI_CHOICE", options=["a", "b", "c"])
    change(admin_token_client, poll["id"], "ACTION_START")

    assert_status(vote(viewer_token_client, poll, 0, 0), 400, 3)
    assert vote(viewer_token_client, poll, 0, 2).status_code == 200

    counted = get(admin_token_client, poll["id"])
    assert counted["votes_count"] == 1
    assert [o["votes_count"] for o in counted["multi_choice"]["options"]] == [1, 0, 1]


def test_only_an_active_poll_takes_votes(admin_token_client, viewer_token_client):
    poll = create(admin_token_client)

    body = assert_status(vote(viewer_token_client, poll, 0), 400, FailedPrecondition.grpc_code)
    assert body["details"][-1]["reason"] == "POLL_NOT_ACTIVE"


def test_vote_must_name_this_polls_options_and_type(
    active_poll, admin_token_client, viewer_token_client
):
    other = create(admin_token_client)
    foreign = dict(active_poll)
    foreign["multi_choice"] = {"options": [{"id": other["multi_choice"]["options"][0]["id"]}]}

    assert_status(vote(viewer_token_client, foreign, 0), 400, 3)
    assert_status(vote(viewer_token_client, active_poll, 0, type="POLL_TYPE_MULTI_CHOICE"), 400, 3)
    mismatched = viewer_token_client.post(
        f"{POLLS}/{active_poll['id']}:vote",
        {
            "vote": {
                "poll": {
                    "id": other["id"],
                    "type": "POLL_TYPE_SINGLE_CHOICE",
                    "multi_choice": {
                        "options": [{"id": active_poll["multi_choice"]["options"][0]["id"]}]
                    },
                }
            }
        },
        format="json",
    )
    assert "vote.poll.id" in field_violations(assert_status(mismatched, 400, 3))


def test_blocked_user_cannot_vote(active_poll, viewer_token_client, room, system_actor):
    services.user_block(actor=system_actor, room=room, user_id="viewer-1")

    assert_status(vote(viewer_token_client, active_poll, 0), 403, PermissionDenied.grpc_code)
