"""Repeated failed credentials from one client are refused, without locking out others."""

import socket

import pytest
from django.test import override_settings

from chatrooms.errors import ResourceExhausted
from tests.chatrooms.helpers import assert_status

B = "/bv/chatroom/v1"

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit(settings):
    settings.CHATROOM_AUTH_FAILURE_LIMIT = 5
    settings.CHATROOM_AUTH_FAILURE_WINDOW_SECONDS = 60
    return 5


def guess(client, address, credential="crk_deadbeef_wrong-secret"):
    return client.post(
        f"{B}/chatrooms",
        {},
        format="json",
        REMOTE_ADDR=address,
        HTTP_AUTHORIZATION=f"Bearer {credential}",
    )


def test_after_the_limit_failures_get_429_and_a_valid_key_still_works(anon_client, api_key, limit):
    for _ in range(limit):
        assert_status(guess(anon_client, "203.0.113.7"), 401, 16)

    refused = guess(anon_client, "203.0.113.7")
    # Someone else behind the same address (a NAT), with a real key (issue 9, #7).
    neighbour = guess(anon_client, "203.0.113.7", credential=api_key[1])

    body = assert_status(refused, 429, ResourceExhausted.grpc_code)
    assert body["details"][-1]["reason"] == "AUTH_RATE_LIMITED"
    assert refused["Retry-After"] == "60"
    assert neighbour.status_code == 200


def test_other_clients_are_not_locked_out(anon_client, api_key, limit):
    for _ in range(limit + 3):
        guess(anon_client, "203.0.113.7")

    assert guess(anon_client, "198.51.100.1", credential=api_key[1]).status_code == 200


def test_successes_do_not_count(anon_client, api_key, limit):
    for _ in range(limit * 3):
        assert guess(anon_client, "203.0.113.8", credential=api_key[1]).status_code == 200


def test_bad_tokens_and_refresh_tokens_count_too(anon_client, limit):
    for _ in range(limit - 1):
        assert_status(guess(anon_client, "203.0.113.9", credential="a.b.c"), 401, 16)
    assert_status(
        anon_client.post(
            f"{B}/chatrooms/tokens:refresh",
            {"refresh_token": "crr_nope"},
            format="json",
            REMOTE_ADDR="203.0.113.9",
        ),
        401,
        16,
    )

    refused = anon_client.post(
        f"{B}/chatrooms/tokens:refresh",
        {"refresh_token": "crr_x"},
        format="json",
        REMOTE_ADDR="203.0.113.9",
    )

    assert_status(refused, 429, ResourceExhausted.grpc_code)


def test_behind_the_proxy_the_proxys_last_forwarded_address_counts(
    anon_client, api_key, limit, settings
):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    for index in range(limit):
        # The client controls the first entries, not the one the proxy appends.
        anon_client.post(
            f"{B}/chatrooms",
            {},
            format="json",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"1.1.1.{index}, 203.0.113.50",
            HTTP_AUTHORIZATION="Bearer crk_deadbeef_x",
        )

    refused = anon_client.post(
        f"{B}/chatrooms",
        {},
        format="json",
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.50",
        HTTP_AUTHORIZATION="Bearer crk_deadbeef_y",
    )
    other = anon_client.post(
        f"{B}/chatrooms",
        {},
        format="json",
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.51",
        HTTP_AUTHORIZATION="Bearer crk_deadbeef_z",
    )

    assert_status(refused, 429, ResourceExhausted.grpc_code)
    assert_status(other, 401, 16)  # another address: its first failure


def test_without_the_cache_the_api_answers_and_the_limit_lets_requests_through(
    anon_client, viewer_token_client, limit
):
    # A Redis that is down (nothing listens on the port): issue 9, #5.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    down = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed}",
        }
    }

    with override_settings(CACHES=down):
        state = viewer_token_client.get(f"{B}/chatrooms")
        failures = [guess(anon_client, "203.0.113.60").status_code for _ in range(limit + 2)]

    assert state.status_code == 200
    assert state.json()["chatroom"]["id"]
    assert failures == [401] * (limit + 2)  # fails open: no 500, no 429
