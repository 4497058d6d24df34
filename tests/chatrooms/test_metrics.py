"""Prometheus metrics (issue 13): /metrics answers allowed callers only, requests are
counted by URL pattern name, and the domain figures move with real requests and service
calls. Values are read from this process's registry (no PROMETHEUS_MULTIPROC_DIR in
tests), as differences: the registry lives as long as the test process."""

import uuid

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from chatrooms import services
from chatrooms.models import ChatStatus
from tests.chatrooms.test_messages_api import text
from tests.chatrooms.test_polls_api import change, create, vote
from tests.conftest import roll_up
from tests.factories import CustomCounterFactory

pytestmark = pytest.mark.django_db


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client=None, **extra) -> tuple[int, str]:
    response = (client or Client()).get("/metrics", **extra)
    return response.status_code, response.content.decode()


def test_metrics_answer_loopback_in_the_prometheus_format():
    response = Client().get("/metrics")  # the test client's REMOTE_ADDR is 127.0.0.1

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "# TYPE chatroom_http_requests_total counter" in response.content.decode()


def test_other_addresses_and_proxied_requests_get_404():
    assert scrape(REMOTE_ADDR="203.0.113.9")[0] == 404
    # Through nginx every peer is 127.0.0.1, and nginx always sets X-Forwarded-For.
    assert scrape(HTTP_X_FORWARDED_FOR="203.0.113.9")[0] == 404
    assert Client().post("/metrics").status_code == 404


def test_the_allow_list_is_a_setting(settings):
    # The setting under test: a monitoring network instead of loopback.
    import ipaddress

    settings.CHATROOM_METRICS_ALLOWED_IPS = [ipaddress.ip_network("10.1.0.0/16")]

    assert scrape(REMOTE_ADDR="10.1.2.3")[0] == 200
    assert scrape(REMOTE_ADDR="127.0.0.1")[0] == 404


def test_a_bearer_token_lets_any_address_in_when_set(settings):
    # The setting under test: a scraper on another machine authenticates with a token.
    settings.CHATROOM_METRICS_TOKEN = "t" * 40

    ok = scrape(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer " + "t" * 40)
    wrong = scrape(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer " + "u" * 40)

    assert ok[0] == 200
    assert wrong[0] == 404


def test_requests_are_counted_by_route_name_not_path(viewer_token_client):
    route = {"route": "moderation:room", "method": "GET", "status": "302"}
    before = value("chatroom_http_requests_total", **route)
    rooms = [uuid.uuid4(), uuid.uuid4()]

    for room_id in rooms:
        Client().get(f"/moderation/rooms/{room_id}/")  # signed out: redirected to sign in
    Client().get(f"/no-such-page/{rooms[0]}")
    viewer_token_client.get("/bv/chatroom/v1/chatrooms")

    assert value("chatroom_http_requests_total", **route) == before + 2
    assert value(
        "chatroom_http_request_duration_seconds_count", route="moderation:room", method="GET"
    )
    assert value(
        "chatroom_http_requests_total", route="chatroom_api:chatrooms", method="GET", status="200"
    )
    _, body = scrape()
    assert 'method="GET",route="<unmatched>",status="404"' in body
    assert not any(str(room_id) in body for room_id in rooms)


def test_probes_are_counted_under_their_path():
    before = value("chatroom_http_requests_total", route="/healthz", method="GET", status="200")

    Client().get("/healthz")

    assert value("chatroom_http_requests_total", route="/healthz", method="GET", status="200") == (
        before + 1
    )


def test_messages_accepted_and_refused_by_reason(
    viewer_token_client, django_capture_on_commit_callbacks
):
    accepted = value("chatroom_messages_accepted_total")
    exists = value("chatroom_messages_refused_total", reason="MESSAGE_EXISTS")
    message_id = str(uuid.uuid4())

    with django_capture_on_commit_callbacks(execute=True):
        assert text(viewer_token_client, id=message_id).status_code == 200
        assert text(viewer_token_client, id=message_id).status_code == 409

    assert value("chatroom_messages_accepted_total") == accepted + 1
    assert value("chatroom_messages_refused_total", reason="MESSAGE_EXISTS") == exists + 1


def test_an_inactive_rooms_refusals_are_counted(
    room, viewer_token_client, django_capture_on_commit_callbacks
):
    room.status = ChatStatus.INACTIVE
    room.save()
    before = value("chatroom_messages_refused_total", reason="CHATROOM_INACTIVE")

    with django_capture_on_commit_callbacks(execute=True):
        assert text(viewer_token_client).status_code == 400

    assert value("chatroom_messages_refused_total", reason="CHATROOM_INACTIVE") == before + 1


def test_votes_increments_and_roll_ups_are_counted(
    room, admin_token_client, viewer_token_client, django_capture_on_commit_callbacks
):
    votes = value("chatroom_votes_total")
    increments = value("chatroom_counter_increments_total")
    rollups = value("chatroom_rollup_duration_seconds_count")
    lags = value("chatroom_rollup_lag_seconds_count")
    counter = CustomCounterFactory(room=room)
    poll = create(admin_token_client, correct=["Blue"])
    change(admin_token_client, poll["id"], "ACTION_START")

    with django_capture_on_commit_callbacks(execute=True):
        assert vote(viewer_token_client, poll, 0).status_code == 200
        services.counter_increment(room=room, key=counter.key, value=5)
        services.counter_increment(room=room, key=counter.key, value=1)
        roll_up(room)

    assert value("chatroom_votes_total") == votes + 1
    assert value("chatroom_counter_increments_total") == increments + 2
    assert value("chatroom_rollup_duration_seconds_count") == rollups + 1
    assert value("chatroom_rollup_lag_seconds_count") == lags + 1


def test_a_malformed_allow_list_or_short_token_is_a_startup_error():
    from tests.test_settings import run_manage

    bad_list = run_manage("check", DJANGO_DEBUG="1", CHATROOM_METRICS_ALLOWED_IPS="10.0.0.0/33")
    short = run_manage("check", DJANGO_DEBUG="1", CHATROOM_METRICS_TOKEN="short")

    assert "CHATROOM_METRICS_ALLOWED_IPS: '10.0.0.0/33'" in bad_list.stderr
    assert "CHATROOM_METRICS_TOKEN must be at least 32 characters" in short.stderr
