"""Per-user limits on sends and counter increments (issue 9, #4), with the default
settings: a flood is refused with 429, code 8 and Retry-After over REST, and
dropped and counted over MQTT; a cache outage lets everything through."""

import json
import logging
import socket

import pytest
from django.conf import settings
from django.test import override_settings

from chatrooms import caching, services
from chatrooms.errors import RETRY_INFO_TYPE, ResourceExhausted
from chatrooms.models import ChatMessage, CounterIncrement, InteractionType, Role
from chatrooms.realtime.ingest import Sender
from chatrooms.realtime.worker import Received, Worker
from config.settings import Rate, parse_rate
from tests.chatrooms.helpers import assert_status

pytestmark = pytest.mark.django_db

URL = "/bv/chatroom/v1/chatrooms/messages"
SEND = settings.CHATROOM_SEND_RATE
INCREMENT = settings.CHATROOM_INCREMENT_RATE
INCREMENT_VALUE = settings.CHATROOM_INCREMENT_VALUE_RATE


def text(words="hello"):
    return {"type": InteractionType.TEXT, "text_message": {"text": words}}


def tap(value=1, key="like"):
    incr = {"key": key, "value": value}
    return {"type": InteractionType.CUSTOM, "custom_message": {"incr": incr}}


def post(client, body):
    return client.post(URL, body, format="json")


def error_info(body) -> dict:
    return next(d for d in body["details"] if d["@type"].endswith("ErrorInfo"))


def retry_delay_seconds(body) -> int:
    detail = next(d for d in body["details"] if d["@type"] == RETRY_INFO_TYPE)
    assert detail["retry_delay"].endswith("s")
    return int(detail["retry_delay"][:-1])


@pytest.fixture(autouse=True)
def _no_window_edge(monkeypatch):
    """The limits count in fixed windows; keep a test's requests inside one window, so
    one that starts just before a window ends does not get a fresh allowance."""
    from chatrooms import ratelimit

    monkeypatch.setattr(ratelimit, "_now", lambda: 1_000_000.5)


def test_the_defaults_are_far_above_a_person_chatting():
    # A live chat user sends a few messages a second at most, and taps a few a second.
    assert (Rate(50, 10), Rate(100, 10), Rate(10_000, 10)) == (SEND, INCREMENT, INCREMENT_VALUE)
    assert INCREMENT_VALUE.count >= services.MAX_INCREMENT  # one largest tap always fits


def test_sends_past_the_limit_are_429_with_retry_after(viewer_token_client):
    for _ in range(SEND.count):
        assert post(viewer_token_client, text()).status_code == 200

    response = post(viewer_token_client, text("one too many"))

    body = assert_status(response, 429, ResourceExhausted.grpc_code)
    assert error_info(body)["reason"] == "SEND_RATE_LIMITED"
    assert 1 <= int(response["Retry-After"]) <= SEND.seconds
    assert retry_delay_seconds(body) == int(response["Retry-After"])
    assert ChatMessage.objects.count() == SEND.count


def test_the_limit_is_per_user_and_per_room(room, make_token_client, system_actor):
    flooder = make_token_client(room, Role.VIEWER, subject="flooder")
    for _ in range(SEND.count + 1):
        post(flooder, text())
    assert post(flooder, text()).status_code == 429

    neighbour = make_token_client(room, Role.VIEWER, subject="neighbour")
    assert post(neighbour, text()).status_code == 200
    # The same subject in another room has its own allowance.
    other_room = services.chatroom_create(actor=system_actor)
    elsewhere = make_token_client(other_room, Role.VIEWER, subject="flooder")
    assert post(elsewhere, text()).status_code == 200


def test_a_new_token_for_the_same_subject_shares_the_allowance(room, make_token_client):
    first = make_token_client(room, Role.VIEWER, subject="ann")
    for _ in range(SEND.count):
        post(first, text())

    second = make_token_client(room, Role.VIEWER, subject="ann")

    assert post(second, text()).status_code == 429


def test_admin_tokens_are_limited_too(admin_token_client):
    for _ in range(SEND.count):
        assert post(admin_token_client, text()).status_code == 200

    assert post(admin_token_client, text()).status_code == 429


def test_taps_have_their_own_allowance(viewer_token_client):
    for _ in range(INCREMENT.count):
        assert post(viewer_token_client, tap()).status_code == 200

    refused = post(viewer_token_client, tap())
    chat = post(viewer_token_client, text("still chatting"))

    body = assert_status(refused, 429, ResourceExhausted.grpc_code)
    assert error_info(body)["reason"] == "INCREMENT_RATE_LIMITED"
    assert refused["Retry-After"]
    assert chat.status_code == 200
    assert CounterIncrement.objects.count() == INCREMENT.count


def test_the_total_a_user_adds_per_window_is_bounded(viewer_token_client):
    assert post(viewer_token_client, tap(services.MAX_INCREMENT)).status_code == 200
    spent = services.MAX_INCREMENT
    while spent + services.MAX_INCREMENT <= INCREMENT_VALUE.count:
        assert post(viewer_token_client, tap(services.MAX_INCREMENT)).status_code == 200
        spent += services.MAX_INCREMENT

    response = post(viewer_token_client, tap(INCREMENT_VALUE.count - spent + 1))

    body = assert_status(response, 429, ResourceExhausted.grpc_code)
    assert error_info(body)["reason"] == "INCREMENT_VALUE_LIMITED"
    assert sum(CounterIncrement.objects.values_list("value", flat=True)) == spent


def test_a_refused_tap_leaves_the_counter_alone(viewer_token_client, room):
    for _ in range(INCREMENT.count + 5):
        post(viewer_token_client, tap())
    services.chatroom_rollup(room=room, force=True)

    assert room.custom_counters.get(key="like").value == INCREMENT.count


def test_the_next_window_brings_a_fresh_allowance(viewer_token_client, monkeypatch):
    from chatrooms import ratelimit

    for _ in range(SEND.count):
        post(viewer_token_client, text())
    assert post(viewer_token_client, text()).status_code == 429

    monkeypatch.setattr(ratelimit, "_now", lambda: 1_000_000.5 + SEND.seconds)

    assert post(viewer_token_client, text()).status_code == 200


def test_staff_and_server_writes_are_not_limited(room, system_actor):
    from django.utils import timezone

    for _ in range(SEND.count + 5):
        services.message_send(
            actor=system_actor, room=room, type=InteractionType.TEXT, sent_at=timezone.now()
        )

    assert ChatMessage.objects.count() == SEND.count + 5


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_the_cache_sends_go_through_and_the_outage_is_logged(
    viewer_token_client, caplog, monkeypatch
):
    # A Redis that is down (nothing listens on the port): fail open, never a 500.
    down = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}",
        }
    }
    monkeypatch.setattr(caching, "_last_logged", -1e9)  # the once-a-minute log is due

    with override_settings(CACHES=down), caplog.at_level(logging.WARNING, "chatrooms.caching"):
        codes = [post(viewer_token_client, text()).status_code for _ in range(SEND.count + 3)]
        taps = [post(viewer_token_client, tap()).status_code for _ in range(3)]

    assert codes == [200] * (SEND.count + 3)
    assert taps == [200] * 3
    assert "the cache is unreachable" in caplog.text


# --- Over MQTT: dropped and counted by reason ----------------------------------------------


def received(room, payloads, *, user="u1", role="ROLE_VIEWER"):
    sender = Sender.from_identity(json.dumps({"room": str(room.pk), "id": user, "role": role}))
    return [Received(sender=sender, payload=json.dumps(p).encode(), at=0.0) for p in payloads]


def test_the_worker_drops_a_flood_and_counts_it_by_reason(room):
    worker = Worker(name="unstarted")
    flood = [text(f"m{i}") for i in range(SEND.count + 7)] + [tap() for _ in range(3)]
    flood += [tap() for _ in range(INCREMENT.count)]

    worker.store(room.pk, worker.parse(received(room, flood)))

    assert worker.stats["stored"] == SEND.count + INCREMENT.count
    assert worker.stats["refused_SEND_RATE_LIMITED"] == 7
    assert worker.stats["refused_INCREMENT_RATE_LIMITED"] == 3
    assert ChatMessage.objects.count() == SEND.count + INCREMENT.count


def test_the_worker_and_rest_share_one_allowance(room, make_token_client):
    worker = Worker(name="unstarted")
    worker.store(room.pk, worker.parse(received(room, [text()] * SEND.count, user="ann")))

    rest = make_token_client(room, Role.VIEWER, subject="ann")

    assert post(rest, text()).status_code == 429


def test_one_batch_from_many_users_limits_each_alone(room):
    worker = Worker(name="unstarted")
    items = []
    for user in ("a", "b", "c"):
        items += received(room, [text()] * (SEND.count + 1), user=user)

    worker.store(room.pk, worker.parse(items))

    assert worker.stats["stored"] == 3 * SEND.count
    assert worker.stats["refused_SEND_RATE_LIMITED"] == 3


# --- Settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "rate"),
    [("50/10s", Rate(50, 10)), ("1/1s", Rate(1, 1)), ("off", None), (" 20/60s ", Rate(20, 60))],
)
def test_rates_are_read_as_count_per_seconds(raw, rate):
    assert parse_rate("X", raw) == rate


@pytest.mark.parametrize("raw", ["", "50", "50/10", "50/0s", "0/10s", "-1/10s", "5/1m", "a/bs"])
def test_a_malformed_rate_is_a_startup_error(raw):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="X must be"):
        parse_rate("X", raw)


def test_with_redis_every_process_shares_the_counts(viewer_token_client):
    """The pipelined path: counts live in Redis, where any other process reads them."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("needs Redis on 127.0.0.1:6379")
    from django.core.cache import caches

    shared = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # A database of its own: the test clears it.
            "LOCATION": "redis://127.0.0.1:6379/13",
        }
    }
    with override_settings(CACHES=shared):
        caches["default"].clear()
        try:
            codes = [post(viewer_token_client, text()).status_code for _ in range(SEND.count + 1)]
            redis = caches["default"]._cache.get_client()
            keys = list(redis.scan_iter(match="*chatrooms:rate:send:*"))
            counted = [int(redis.get(key)) for key in keys]
        finally:
            caches["default"].clear()

    assert codes == [200] * SEND.count + [429]
    assert counted == [SEND.count + 1]  # one user, one window, every attempt counted


def test_a_batch_retried_after_a_database_failure_is_not_counted_twice(room):
    """The worker retries a batch whose transaction failed; its messages were counted
    on the first attempt, and must not be refused as a flood on the second."""
    from django.db import transaction

    worker = Worker(name="unstarted")
    batch = worker.parse(received(room, [text(f"m{i}") for i in range(SEND.count)]))

    class DatabaseWentAway(Exception):
        pass

    with pytest.raises(DatabaseWentAway), transaction.atomic():
        services.messages_send(room=room, incoming=batch.messages)
        raise DatabaseWentAway  # the commit never happened
    batch.attempts = 1  # as flush() marks a batch whose store raised
    worker.store(room.pk, batch)

    assert worker.stats["stored"] == SEND.count
    assert ChatMessage.objects.count() == SEND.count
