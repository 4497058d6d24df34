"""Every REST call the upstream clients make, replayed as they send it, and each
answer's shape checked as they parse it.

The clients (``../shared/reference/realtime.md`` section 2, ``chatroom-api-upstream.md``):

* the Android SDK 1.4.0 and its sample app (Retrofit + Gson + OkHttp): compact JSON
  with null fields left out, ``Content-Type: application/json; charset=UTF-8``,
  ``Authorization: Bearer <token>``, OkHttp's ``Accept-Encoding: gzip``; times as
  ``yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSS'Z'`` (milliseconds and six zeros);
* the iOS SDK 1.6.0 and its sample (``APIService.swift``, URLSession):
  ``Content-Type: application/json``, ISO 8601 times without a fraction, and the
  misspelt ``ROLE_VIWER``;
* both samples' backend calls, with the API token and ``x-bv-org-id``;
* BlendVision's own TypeScript client (``mcp-server``'s ``src/client.ts``, axios):
  ``Content-Type: application/json``, ``Authorization: Bearer <api token>``, optional
  ``x-bv-org-id``, ``page``/``pageSize`` in the query, its own body shapes.

What the mobile SDKs send over MQTT is replayed by tests/realtime; the sticker and
word-filter calls the iOS SDK makes (``stickerpacks:admin-list``,
``dictionaries:batch-update``) belong to other parts of issue 12 and 13.

The shape checks are what a protobuf JSON client needs: the field names, enum
strings from the upstream lists, int64 values as decimal strings, int32 as numbers,
timestamps in RFC 3339 (UTC, milliseconds, ``Z``), durations as ``"<n>s"``.
"""

from __future__ import annotations

import gzip
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from rest_framework.test import APIClient

from chatrooms.models import ChatStatus, InteractionType, PollStatus, PollType, Role
from tests import factories

pytestmark = pytest.mark.django_db

BASE = "/bv/chatroom/v1"
ORG_ID = "a1b2c3d4-0000-4000-8000-0123456789ab"


# --- How each client sends ------------------------------------------------------------------


def android_time(moment: datetime) -> str:
    """Gson's date format in the Android SDK: milliseconds, then six zeros."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}000000Z"
    )


def ios_time(moment: datetime) -> str:
    """Foundation's ISO8601DateFormatter default: no fraction."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Client:
    """One upstream client: its headers and its JSON encoding, on Django's test client."""

    def __init__(self, *, content_type: str, headers: dict, compact: bool, bearer: str = ""):
        self.http = APIClient()
        self.content_type = content_type
        self.headers = headers
        self.compact = compact
        self.bearer = bearer

    def with_bearer(self, credential: str) -> Client:
        return Client(
            content_type=self.content_type,
            headers=self.headers,
            compact=self.compact,
            bearer=credential,
        )

    def with_headers(self, **headers) -> Client:
        return Client(
            content_type=self.content_type,
            headers={**self.headers, **headers},
            compact=self.compact,
            bearer=self.bearer,
        )

    def call(self, method: str, path: str, body: dict | None = None, *, query: str = ""):
        headers = dict(self.headers)
        if self.bearer:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {self.bearer}"
        url = BASE + path + (f"?{query}" if query else "")
        data = b""
        if body is not None:
            separators = (",", ":") if self.compact else (", ", ": ")
            data = json.dumps(body, separators=separators).encode()
        response = self.http.generic(
            method, url, data=data, content_type=self.content_type, **headers
        )
        response.replayed = (method, path)
        return response


def android() -> Client:
    return Client(
        content_type="application/json; charset=UTF-8",
        headers={"HTTP_ACCEPT_ENCODING": "gzip", "HTTP_USER_AGENT": "okhttp/4.12.0"},
        compact=True,
    )


def ios() -> Client:
    return Client(
        content_type="application/json",
        headers={
            "HTTP_ACCEPT_ENCODING": "gzip, deflate, br",
            "HTTP_USER_AGENT": "MessagingSample/1 CFNetwork/1498 Darwin/23.6.0",
        },
        compact=False,
    )


def sample_backend(api_key: str) -> Client:
    """The samples' server side: the API token and the organisation header."""
    return ios().with_bearer(api_key).with_headers(HTTP_X_BV_ORG_ID=ORG_ID)


def blendvision_client(api_key: str) -> Client:
    """mcp-server's axios instance."""
    return Client(
        content_type="application/json",
        headers={
            "HTTP_ACCEPT": "application/json, text/plain, */*",
            "HTTP_USER_AGENT": "axios/1.7.9",
            "HTTP_X_BV_ORG_ID": ORG_ID,
        },
        compact=True,
        bearer=api_key,
    )


def body_of(response) -> dict:
    """The JSON body, as OkHttp and URLSession hand it over (gzip undone)."""
    assert response.status_code == 200, (response.replayed, response.status_code, response.content)
    raw = response.content
    if response.get("Content-Encoding") == "gzip":
        raw = gzip.decompress(raw)
    assert response["Content-Type"].startswith("application/json")
    return json.loads(raw)


# --- How each client reads ------------------------------------------------------------------

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
INT64 = re.compile(r"^-?\d+$")
DURATION = re.compile(r"^\d+(\.\d{1,9})?s$")


class Shape:
    """Leaf checks; a dict is an object with exactly those keys (`optional` may be absent),
    a one-item list an array of that shape."""

    def __init__(self, check, name):
        self.check, self.name = check, name


def enum(values) -> Shape:
    values = set(values)
    return Shape(lambda v: v in values, f"one of {sorted(values)}")


def nullable(shape):
    return ("nullable", shape)


def optional(shape):
    return ("optional", shape)


STRING = Shape(lambda v: isinstance(v, str), "a string")
UUID = Shape(lambda v: isinstance(v, str) and _is_uuid(v), "a UUID string")
BOOL = Shape(lambda v: isinstance(v, bool), "a boolean")
INT32 = Shape(lambda v: isinstance(v, int) and not isinstance(v, bool), "a number")
INT64_STRING = Shape(lambda v: isinstance(v, str) and bool(INT64.match(v)), "an int64 string")
TIMESTAMP = Shape(lambda v: isinstance(v, str) and bool(RFC3339.match(v)), "RFC 3339 (ms, Z)")
DURATION_STRING = Shape(lambda v: isinstance(v, str) and bool(DURATION.match(v)), "a Duration")
EMPTY = {}


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def problems(value, shape, path="$") -> list[str]:
    if isinstance(shape, tuple):
        kind, inner = shape
        if kind == "nullable" and value is None:
            return []
        return problems(value, inner, path)
    if isinstance(shape, Shape):
        return [] if shape.check(value) else [f"{path}: {value!r} is not {shape.name}"]
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{path}: not an array"]
        return [p for i, item in enumerate(value) for p in problems(item, shape[0], f"{path}[{i}]")]
    if not isinstance(value, dict):
        return [f"{path}: not an object"]
    found = []
    required = {k for k, v in shape.items() if not (isinstance(v, tuple) and v[0] == "optional")}
    found += [f"{path}.{key}: missing" for key in sorted(required - set(value))]
    found += [
        f"{path}.{key}: not a field of this message" for key in sorted(set(value) - set(shape))
    ]
    for key in set(value) & set(shape):
        found += problems(value[key], shape[key], f"{path}.{key}")
    return found


def assert_shape(value, shape):
    assert problems(value, shape) == []


CHAT_USER = {
    "id": STRING,
    "device_id": STRING,
    "custom_name": STRING,
    "is_admin": BOOL,
    "is_guest": BOOL,
    "blocked": BOOL,
}
BLOCK_USER = {
    "id": STRING,
    "device_id": STRING,
    "custom_name": STRING,
    "blocked": BOOL,
    "action_taker": CHAT_USER,
}
PIN_MESSAGE = {
    "message": {
        "id": STRING,
        "text": STRING,
        "sender": {"id": STRING, "device_id": STRING, "custom_name": STRING},
    },
    "action_taker": CHAT_USER,
}
POLL = {
    "id": UUID,
    "type": enum(PollType.values),
    "status": enum(PollStatus.values),
    "votes_count": INT32,
    "multi_choice": {
        "question": STRING,
        "options": [{"id": UUID, "text": STRING, "corrected": BOOL, "votes_count": INT32}],
    },
    "started_at": nullable(TIMESTAMP),
    "ended_at": nullable(TIMESTAMP),
}
VIEWER_INFO = {
    "enabled": BOOL,
    "count": INT32,
    "version_number": INT64_STRING,
    "updated_at": TIMESTAMP,
}
CUSTOM_COUNTER = {
    "key": STRING,
    "value": INT32,
    "version_number": INT64_STRING,
    "updated_at": TIMESTAMP,
    "disabled": BOOL,
}
CHAT = {
    "id": UUID,
    "muted": BOOL,
    "status": enum(ChatStatus.values),
    "blocked_users": [BLOCK_USER],
    "pinned_messages": [PIN_MESSAGE],
    "active_poll": nullable(POLL),
    "viewer_info": VIEWER_INFO,
    "custom_counters": [CUSTOM_COUNTER],
    "message_setting": {"ttl": DURATION_STRING, "batch_window": DURATION_STRING},
    "mode": optional(enum(["CHAT_MODE_ONE_WAY"])),
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
}
INTERACTION_MESSAGE = {
    "id": UUID,
    "user": CHAT_USER,
    "type": enum(InteractionType.values),
    "text_message": optional({"text": STRING, "filtered": BOOL}),
    "custom_message": optional(
        {"value": optional(STRING), "incr": optional({"key": STRING, "value": INT32})}
    ),
    "created_at": TIMESTAMP,
    "sent_at": TIMESTAMP,
    "received_at": TIMESTAMP,
}
TOKEN_RESPONSE = {
    "token": STRING,
    "expires_in": INT32,
    "refresh_token": STRING,
    "refresh_expires_in": INT32,
}
CONFIG = {
    "connection": {
        "endpoint": STRING,
        "authorizer": STRING,
        "token": STRING,
        "signature": STRING,
        "client_id": STRING,
        "url": STRING,  # extension
    },
    "topic": {"pub": STRING, "sub": STRING},
    "user": {
        "is_admin": BOOL,
        "is_guest": BOOL,
        "customer_id": STRING,
        "device_id": STRING,
        "custom_name": STRING,
    },
    "token": {"expired_at": TIMESTAMP},
}
STATUS = {
    "code": INT32,
    "message": STRING,
    "details": [
        Shape(lambda d: isinstance(d, dict) and isinstance(d.get("@type"), str), "an Any"),
    ],
}
ERROR_INFO = {
    "@type": enum(["type.googleapis.com/google.rpc.ErrorInfo"]),
    "reason": STRING,
    "domain": STRING,
    "metadata": Shape(lambda v: isinstance(v, dict), "an object"),
}
MANAGED_CHAT = {**CHAT, "name": STRING, "description": STRING}


# --- The session ------------------------------------------------------------------------------


@pytest.fixture
def key(api_key) -> str:
    return api_key[1]


@pytest.fixture
def room_id(key) -> str:
    """The samples' backend creates the room (POST /chatrooms, with counters)."""
    response = sample_backend(key).call(
        "POST", "/chatrooms", {"custom_counters": [{"key": "like"}, {"key": "heart"}]}
    )
    chat = body_of(response)["chatroom"]
    assert_shape(chat, CHAT)
    return chat["id"]


def mint(key: str, room_id: str, body: dict) -> dict:
    issued = body_of(sample_backend(key).call("POST", f"/chatrooms/{room_id}/tokens", body))
    assert_shape(issued, TOKEN_RESPONSE)
    return issued


@pytest.fixture
def android_admin(key, room_id) -> Client:
    """The Android sample mints the host's token with an `expired_at` override."""
    issued = mint(
        key,
        room_id,
        {
            "role": "ROLE_ADMIN",
            "subject": "host-1",
            "device_id": "android-7f3a",
            "name": "Host",
            "expired_at": android_time(datetime.now(UTC) + timedelta(hours=2)),
        },
    )
    client = android().with_bearer(issued["token"])
    client.issued = issued
    return client


@pytest.fixture
def ios_viewer(key, room_id) -> Client:
    """The iOS sample mints a viewer's token with the role it misspells."""
    issued = mint(
        key,
        room_id,
        {
            "role": "ROLE_VIWER",
            "subject": "ios-viewer-1",
            "device_id": "6F1C2D3E-AAAA-4BBB-8CCC-0123456789AB",
            "name": "Ivy",
            "expired_at": ios_time(datetime.now(UTC) + timedelta(hours=2)),
        },
    )
    client = ios().with_bearer(issued["token"])
    client.issued = issued
    return client


def published(client: Client, body: dict) -> dict:
    """A message as the SDK publishes it over MQTT (realtime.md section 2), stored here
    through the REST extension that takes the same JSON: the history needs messages."""
    return body_of(client.call("POST", "/chatrooms/messages", body))["message"]


def android_text(text: str) -> dict:
    return {
        "text_message": {"text": text},
        "type": "INTERACTION_TYPE_TEXT",
        "user": {"custom_name": "Host"},
        "sent_at": android_time(datetime.now(UTC)),
    }


# --- Chatroom-token calls (Android SDK 1.4.0; the iOS SDK makes the same) -------------------


@pytest.mark.parametrize("who", ["android_admin", "ios_viewer"])
def test_get_chatroom_config(who, request):
    client = request.getfixturevalue(who)

    config = body_of(client.call("GET", "/chatrooms/config"))

    assert_shape(config, CONFIG)
    assert config["user"]["is_admin"] is (who == "android_admin")
    assert config["user"]["is_guest"] is False


@pytest.mark.parametrize("who", ["android_admin", "ios_viewer"])
def test_get_chatroom_gzipped_as_okhttp_and_urlsession_ask(who, request, room_id):
    client = request.getfixturevalue(who)

    response = client.call("GET", "/chatrooms")

    assert response["Content-Encoding"] == "gzip"
    chat = body_of(response)["chatroom"]
    assert_shape(chat, CHAT)
    assert chat["id"] == room_id
    assert [c["key"] for c in chat["custom_counters"]] == ["like", "heart"]


def test_chat_history_with_every_parameter_the_sdk_sends(android_admin, ios_viewer):
    first = published(android_admin, android_text("Welcome"))
    published(
        android_admin,
        {
            "type": "INTERACTION_TYPE_CUSTOM",
            "user": {"custom_name": "Host"},
            "custom_message": {"incr": {"key": "like", "value": 3}, "value": "[]"},
            "sent_at": android_time(datetime.now(UTC)),
        },
    )
    assert_shape(first, INTERACTION_MESSAGE)

    # getChatHistory(beforeAt, limit, afterAt, fromOldest, types): nulls left out.
    newest = body_of(ios_viewer.call("GET", "/chatrooms/messages", query="limit=20"))
    since = android_time(datetime.now(UTC) - timedelta(minutes=5))
    oldest_first = body_of(
        android_admin.call(
            "GET",
            "/chatrooms/messages",
            query=f"after_at={since}&limit=20&from_oldest=true&types=INTERACTION_TYPE_CUSTOM",
        )
    )
    before = body_of(
        ios_viewer.call(
            "GET",
            "/chatrooms/messages",
            query=f"before_at={newest['messages'][-1]['received_at']}&limit=20",
        )
    )

    for page in (newest, oldest_first, before):
        assert_shape(page, {"messages": [INTERACTION_MESSAGE]})
    assert [m["type"] for m in oldest_first["messages"]] == ["INTERACTION_TYPE_CUSTOM"]
    assert len(newest["messages"]) == 2
    assert before["messages"] == []


def test_moderation_calls_of_the_android_sdk(android_admin, ios_viewer, room_id):
    host = {"custom_name": "Host"}
    message = published(android_admin, android_text("Pin me"))
    calls = [
        ("POST", "/chatrooms:mute", {"action_taker": host}),
        ("POST", "/chatrooms:unmute", {"action_taker": host}),
        (
            "PUT",
            "/chatrooms/viewer-infos",
            {"viewer_info": {"enabled": True}, "action_taker": host},
        ),
        (
            "POST",
            "/chatrooms/users:block",
            {
                "blocked_user": {
                    "id": "ios-viewer-1",
                    "device_id": "6F1C2D3E-AAAA-4BBB-8CCC-0123456789AB",
                    "custom_name": "Ivy",
                    "action_taker": host,
                }
            },
        ),
        (
            "POST",
            "/chatrooms/users:unblock",
            {"unblocked_user": {"id": "ios-viewer-1", "action_taker": host}},
        ),
        (
            "POST",
            "/chatrooms/messages:pin",
            {
                "pinned_message": {
                    "message": {
                        "id": message["id"],
                        "text": "Pin me",
                        "sender": {
                            "id": message["user"]["id"],
                            "device_id": message["user"]["device_id"],
                            "custom_name": message["user"]["custom_name"],
                        },
                    },
                    "action_taker": host,
                }
            },
        ),
        (
            "POST",
            "/chatrooms/messages:unpin",
            {"unpinned_message": {"message": {"id": message["id"]}, "action_taker": host}},
        ),
    ]
    for method, path, body in calls:
        assert body_of(android_admin.call(method, path, body)) == EMPTY, path

    # Android sends the flattened action_taker and the message's received_at.
    received_at = android_time(datetime.fromisoformat(message["received_at"]))
    query = f"action_taker.custom_name=Host&received_at={received_at}"
    deleted = android_admin.call("DELETE", f"/chatrooms/messages/{message['id']}", query=query)
    assert body_of(deleted) == EMPTY

    chat = body_of(ios_viewer.call("GET", "/chatrooms"))["chatroom"]
    assert_shape(chat, CHAT)
    assert chat["viewer_info"]["enabled"] is True
    assert chat["blocked_users"] == chat["pinned_messages"] == []


def test_a_viewer_on_an_admin_call_gets_the_error_the_sdk_parses(ios_viewer):
    response = ios_viewer.call("POST", "/chatrooms:mute", {"action_taker": {"custom_name": "x"}})

    assert response.status_code == 403
    body = response.json()
    assert_shape(body, STATUS)
    assert body["code"] == 7
    [info] = [d for d in body["details"] if d["@type"].endswith("ErrorInfo")]
    assert_shape(info, ERROR_INFO)


@pytest.mark.parametrize("who", ["android_admin", "ios_viewer"])
def test_update_user_renames_the_caller_whatever_its_role(who, request):
    client = request.getfixturevalue(who)

    assert body_of(client.call("PUT", "/chatrooms/users", {"custom_name": "Renamed"})) == EMPTY

    refreshed = body_of(
        android().call(
            "POST", "/chatrooms/tokens:refresh", {"refresh_token": client.issued["refresh_token"]}
        )
    )
    config = body_of(android().with_bearer(refreshed["token"]).call("GET", "/chatrooms/config"))
    assert config["user"]["custom_name"] == "Renamed"


def test_refresh_as_android_sends_it(android_admin):
    body = {
        "refresh_token": android_admin.issued["refresh_token"],
        "expired_at": android_time(datetime.now(UTC) + timedelta(minutes=30)),
    }

    refreshed = body_of(android().call("POST", "/chatrooms/tokens:refresh", body))

    # Upstream's {token, expires_in}, plus the rotated refresh token (an extension).
    assert_shape(refreshed, TOKEN_RESPONSE)
    assert 0 < refreshed["expires_in"] <= 30 * 60


def test_the_ios_viewer_token_says_viewer(ios_viewer):
    config = body_of(ios_viewer.call("GET", "/chatrooms/config"))

    claims = jwt.decode(config["connection"]["token"], options={"verify_signature": False})
    assert claims["roles"] == [Role.VIEWER]


# --- API-token calls of the samples' backend ---------------------------------------------------


def test_change_status_as_the_ios_sdk_exposes_it(key, room_id, ios_viewer):
    backend = sample_backend(key)

    for action in ("ACTION_INACTIVE", "ACTION_ACTIVE"):
        changed = backend.call("POST", f"/chatrooms/{room_id}:change-status", {"action": action})
        assert body_of(changed) == EMPTY

    assert body_of(ios_viewer.call("GET", "/chatrooms"))["chatroom"]["status"] == (
        "CHAT_STATUS_ACTIVE"
    )


def test_custom_counters_update(key, room_id):
    body = {"custom_counters": [{"key": "like"}, {"key": "clap"}]}

    assert body_of(
        sample_backend(key).call("PUT", f"/chatrooms/{room_id}/custom-counters", body)
    ) == (EMPTY)


# --- BlendVision's own client: its four chatroom calls ------------------------------------------


def test_blendvisions_client_creates_lists_gets_and_sends(key):
    client = blendvision_client(key)
    factories.ChatroomFactory(label="An older room")

    # create_chatroom: {name, description} (orgId is sent as the header, not the body)
    created = body_of(
        client.call("POST", "/chatrooms", {"name": "Launch", "description": "Product launch Q&A"})
    )["chatroom"]
    assert_shape(created, CHAT)

    # list_chatrooms: axios serialises params {page, pageSize} as they are named
    listed = body_of(client.call("GET", "/chatrooms", query="page=1&pageSize=10"))
    assert_shape(
        listed,
        {
            "chatrooms": [MANAGED_CHAT],
            "pagination": {"current_page": INT32, "items_per_page": INT32, "has_next_page": BOOL},
        },
    )
    assert [c["name"] for c in listed["chatrooms"]] == ["Launch", "An older room"]

    # get_chatroom
    got = body_of(client.call("GET", f"/chatrooms/{created['id']}"))["chatroom"]
    assert_shape(got, MANAGED_CHAT)
    assert (got["name"], got["description"]) == ("Launch", "Product launch Q&A")

    # send_chatroom_message: {message, userId}
    sent = body_of(
        client.call(
            "POST", f"/chatrooms/{created['id']}/messages", {"message": "hi", "userId": "u1"}
        )
    )["message"]
    assert_shape(sent, INTERACTION_MESSAGE)
    assert sent["user"]["id"] == "u1" and sent["text_message"]["text"] == "hi"


def test_blendvisions_client_reads_errors_as_status_bodies(key):
    client = blendvision_client(key)

    response = client.call("GET", f"/chatrooms/{uuid.uuid4()}")

    assert response.status_code == 404
    # client.ts reads error.response.data.code and .message
    body = response.json()
    assert_shape(body, STATUS)
    assert body["code"] == 5


def test_the_shape_checks_can_fail():
    """The control for the checks above."""
    good = {
        "key": "like",
        "value": 1,
        "version_number": "3",
        "updated_at": "2026-11-29T10:00:00.000Z",
        "disabled": False,
    }

    assert problems(good, CUSTOM_COUNTER) == []
    assert problems({**good, "version_number": 3}, CUSTOM_COUNTER)
    assert problems({**good, "updated_at": "2026-11-29T10:00:00Z"}, CUSTOM_COUNTER)
    assert problems({**good, "extra": 1}, CUSTOM_COUNTER)
    assert problems({**good, "value": "1"}, CUSTOM_COUNTER)
    assert problems({"status": "ACTIVE"}, {"status": enum(ChatStatus.values)})
