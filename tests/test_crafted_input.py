"""Crafted query parameters never give a 500: the API answers 400 in its error shape, the
console its normal page (an unreadable cursor is ignored) or 400 (issue 9, #9)."""

import base64
import json

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories

B = "/bv/chatroom/v1"
OUT_OF_RANGE = "9999-12-31T23:59:59-23:59"  # past year 9999 in UTC; PostgreSQL refuses -23:59
ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def cursor(values) -> str:
    return b64(json.dumps(values).encode())


CRAFTED_CURSORS = [
    cursor([OUT_OF_RANGE, ZERO_UUID]),
    cursor([OUT_OF_RANGE, 1]),
    cursor([None, None]),
    cursor(["\u0000", "\u0000"]),
    cursor([[[[["deep"]]]], 1]),
    b64(b"[" * 1100),
    "not base64 at all %%%",
]


@pytest.mark.django_db
def test_a_page_token_with_a_time_out_of_range_is_400(viewer_token_client):
    token = b64(f"{OUT_OF_RANGE}|{ZERO_UUID}".encode())

    response = viewer_token_client.get(f"{B}/chatrooms/polls?page_token={token}")

    assert response.status_code == 400
    assert response.json()["code"] == 3


@pytest.mark.django_db
def test_a_nul_in_a_query_parameter_is_400_in_the_status_shape(admin_token_client, room):
    message = factories.ChatMessageFactory(room=room)

    response = admin_token_client.delete(
        f"{B}/chatrooms/messages/{message.pk}?action_taker.custom_name=%00"
    )

    assert response.status_code == 400
    assert response.json()["code"] == 3


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("crafted", CRAFTED_CURSORS)
@pytest.mark.parametrize("page", ["rooms", "room", "audit", "api_keys"])
@pytest.mark.parametrize("direction", ["after", "before"])
def test_crafted_console_cursors_show_the_first_page(staff_client, room, page, direction, crafted):
    url = reverse(f"moderation:{page}", args=[room.pk] if page == "room" else [])

    response = staff_client.get(url, {direction: crafted})

    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("page", "parameter"),
    [("room", "blocked"), ("rooms", "q"), ("audit", "actor"), ("rooms", "status")],
)
def test_a_nul_in_a_console_parameter_is_400(staff_client, room, page, parameter):
    url = reverse(f"moderation:{page}", args=[room.pk] if page == "room" else [])

    assert staff_client.get(url, {parameter: "a\x00b"}).status_code == 400


# The fixtures (a room, a signed-in client) are read-only here: sharing them between
# generated examples is intended.
FIXTURES_ARE_PER_TEST = [HealthCheck.function_scoped_fixture]

API_QUERIES = [
    "/chatrooms/messages?before_at={}",
    "/chatrooms/messages?after_at={}",
    "/chatrooms/messages?limit={}",
    "/chatrooms/messages?types={}",
    "/chatrooms/polls?page_token={}",
    "/chatrooms/polls?page_size={}",
]


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(max_size=80), template=st.sampled_from(API_QUERIES))
def test_any_api_query_value_is_answered_without_a_500(admin_token_client, value, template):
    from urllib.parse import quote

    response = admin_token_client.get(B + template.format(quote(value, safe="")))

    assert response.status_code in (200, 400), (template, value, response.content[:200])
    if response.status_code == 400:
        assert response.json()["code"] == 3


CONSOLE_QUERIES = [
    ("rooms", ["q", "status", "sort", "after", "before", "muted", "poll"]),
    ("room", ["before", "blocked"]),
    ("audit", ["actor", "action", "room", "after", "before", "since", "until", "target"]),
    ("api_keys", ["after", "before"]),
]


@pytest.mark.django_db
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(max_size=80), choice=st.sampled_from(CONSOLE_QUERIES), data=st.data())
def test_any_console_query_value_is_answered_without_a_500(staff_client, room, value, choice, data):
    page, parameters = choice
    parameter = data.draw(st.sampled_from(parameters))
    url = reverse(f"moderation:{page}", args=[room.pk] if page == "room" else [])

    response = staff_client.get(url, {parameter: value})

    assert response.status_code in (200, 400), (page, parameter, value)
