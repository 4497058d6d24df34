"""The broker's question, answered by the web app: which CONNECT may proceed."""

import json
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatrooms import auth, services
from chatrooms.errors import Unauthenticated
from chatrooms.models import ChatStatus, Role
from chatrooms.realtime import credentials
from chatrooms.realtime.publisher import broker_secret

URL = "/internal/realtime/auth"


def android_username(token: str, name: str = "chatroom-token", signature: str = "sig") -> str:
    query = urllib.parse.urlencode(
        {
            "x-amz-customauthorizer-name": name,
            "x-amz-customauthorizer-signature": signature,
            "x-token": token,
        }
    )
    return f"username?{query}"


def ask(client, body, *, secret: str | None = None):
    return client.post(
        URL,
        data=body if isinstance(body, bytes | str) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret if secret is not None else broker_secret()}",
    )


@pytest.fixture
def viewer(room):
    return auth.chatroom_token_issue(room=room, role=Role.VIEWER, subject="vera", name="Vera")


def test_each_credential_form_is_accepted(client, room, viewer):
    client_id = auth.realtime_client_id(viewer.claims)
    forms = [
        {"username": android_username(viewer.token), "password": None, "client_id": "x"},
        {"username": "anyone", "password": viewer.token, "client_id": "x"},
        {"username": None, "password": None, "client_id": client_id},
        # The SDK sends the signed client id along with its username: both are vera's.
        {"username": android_username(viewer.token), "password": None, "client_id": client_id},
    ]
    for form in forms:
        answer = ask(client, form).json()
        assert answer["allow"] is True, form
        assert answer["room"] == str(room.pk)
        assert answer["user"] == "vera"
        assert answer["session"] == viewer.claims.jti
        assert answer["publish"] == [f"chatrooms/{room.pk}/inbox"]
        assert answer["subscribe"] == [f"chatrooms/{room.pk}/messages"]
        assert answer["expires_at"] == int(viewer.claims.expires_at.timestamp())
        identity = json.loads(answer["identity"])
        assert identity == {
            "room": str(room.pk),
            "id": "vera",
            "device_id": viewer.claims.device_id,
            "custom_name": "Vera",
            "role": "ROLE_VIEWER",
            "session": viewer.claims.jti,
        }


def test_admins_subscribe_to_the_admin_topic(client, room):
    admin = auth.chatroom_token_issue(room=room, role=Role.ADMIN)
    answer = ask(client, {"username": "a", "password": admin.token, "client_id": "x"}).json()
    assert answer["subscribe"] == [f"chatrooms/{room.pk}/admin"]


def test_refusals_say_why(client, room, viewer, system_actor):
    other_user = auth.chatroom_token_issue(room=room, role=Role.VIEWER, subject="mallory")
    cases = {
        "CREDENTIAL_MISSING": {"username": "someone", "password": None, "client_id": "x"},
        "TOKEN_INVALID": {"username": "a", "password": "junk", "client_id": "x"},
        "CLIENT_ID_NOT_YOURS": {
            "username": "a",
            "password": other_user.token,
            "client_id": auth.realtime_client_id(viewer.claims),
        },
        "CREDENTIAL_MALFORMED": {"username": "a", "password": "x" * 10_000, "client_id": "x"},
    }
    for reason, body in cases.items():
        assert ask(client, body).json() == {"allow": False, "reason": reason}
    # A chatroom token is not a client id, and a client id is not a chatroom token.
    assert ask(client, {"client_id": viewer.token}).json()["allow"] is False
    client_id = auth.realtime_client_id(viewer.claims)
    assert ask(client, {"password": client_id, "client_id": "x"}).json()["allow"] is False
    services.chatroom_change_status(actor=system_actor, room=room, status=ChatStatus.INACTIVE)
    answer = ask(client, {"password": viewer.token, "client_id": "x"}).json()
    assert answer == {"allow": False, "reason": "CHATROOM_INACTIVE"}


def test_only_the_broker_may_ask(client, viewer):
    body = {"password": viewer.token, "client_id": "x"}
    assert ask(client, body, secret="guess").status_code == 403
    assert client.post(URL, body, content_type="application/json").status_code == 403
    assert client.get(URL).status_code == 405


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"password": 5}', b'{"username": ["a"]}', b"\xff"]
)
def test_a_malformed_question_is_400(client, db, body):
    assert ask(client, body).status_code == 400


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_username_is_parsed_without_surprises(username):
    token = credentials.token_in_username(username)
    assert token is None or isinstance(token, str)


@settings(max_examples=200, deadline=None)
@given(
    username=st.one_of(st.none(), st.text(max_size=200)),
    password=st.one_of(st.none(), st.text(max_size=200)),
    client_id=st.one_of(st.none(), st.text(max_size=200), st.just("ey.a.b")),
)
@pytest.mark.django_db
def test_any_connect_is_accepted_or_refused_never_an_error(username, password, client_id):
    try:
        credentials.connection_authorize(username=username, password=password, client_id=client_id)
    except Unauthenticated:
        pass
    else:
        raise AssertionError("no credential was valid")


def test_the_token_is_found_however_the_username_is_encoded(viewer):
    token = viewer.token
    assert credentials.token_in_username(android_username(token)) == token
    assert credentials.token_in_username(f"u?x-token={token}") == token
    assert credentials.token_in_username(f"?x-amz-customauthorizer-name=a&x-token={token}") == token
    assert credentials.token_in_username(token) is None
    assert credentials.token_in_username(f"u?x-token={token}&x-token={token}") is None
