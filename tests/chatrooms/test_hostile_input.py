"""Bad input gets a clear error in the Status shape and changes nothing."""

import json

import pytest

from chatrooms.models import AuditLogEntry, ChatMessage, Chatroom
from tests.chatrooms.helpers import assert_status

B = "/bv/chatroom/v1"

pytestmark = pytest.mark.django_db


def post_raw(client, path, raw: bytes, content_type="application/json"):
    return client.generic("POST", f"{B}{path}", raw, content_type=content_type)


def test_a_body_over_the_limit_is_413_code_8(api_key_client, settings):
    settings.CHATROOM_MAX_BODY_BYTES = 1024
    body = json.dumps({"custom_counters": [{"key": f"k{i}"} for i in range(200)]}).encode()

    response = post_raw(api_key_client, "/chatrooms", body)

    payload = assert_status(response, 413, 8)
    assert payload["details"][-1]["reason"] == "BODY_TOO_LARGE"
    assert Chatroom.objects.count() == 0


def test_the_default_limit_takes_a_normal_body(api_key_client):
    body = json.dumps({"custom_counters": [{"key": f"k{i}"} for i in range(100)]}).encode()

    assert post_raw(api_key_client, "/chatrooms", body).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 30_000 + b"]" * 30_000,  # nested beyond the decoder, within the size limit
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b"\xff\xfe\x00garbage",  # invalid UTF-8
        b'{"custom_counters": NaN}',
        b'{"custom_counters": [{"key": "a"}]',  # truncated
        b"9" * 5000,  # an integer beyond Python's digit limit
        b"",
    ],
    ids=["deep-array", "deep-object", "utf8", "nan", "truncated", "huge-int", "empty"],
)
def test_malformed_or_hostile_json_is_400(viewer_token_client, raw):
    response = post_raw(viewer_token_client, "/chatrooms/messages", raw)

    assert_status(response, 400, 3)
    assert ChatMessage.objects.count() == 0


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/json"],
)
def test_any_content_type_is_read_as_json(viewer_token_client, content_type):
    body = json.dumps({"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": "hi"}})

    response = post_raw(viewer_token_client, "/chatrooms/messages", body.encode(), content_type)

    assert response.status_code == 200


def test_a_form_encoded_body_is_a_clear_400(viewer_token_client):
    response = post_raw(
        viewer_token_client,
        "/chatrooms/messages",
        b"type=TEXT&text=hi",
        "application/x-www-form-urlencoded",
    )

    body = assert_status(response, 400, 3)
    assert "JSON" in body["message"]


@pytest.mark.parametrize(
    "value",
    [[], "text", 1, None, True, {"type": ["INTERACTION_TYPE_TEXT"]}],
)
def test_wrong_json_types_are_400(viewer_token_client, value):
    response = post_raw(viewer_token_client, "/chatrooms/messages", json.dumps(value).encode())

    assert_status(response, 400, 3)


HOSTILE = [
    "'; DROP TABLE chatrooms_chatmessage; --",
    '<script>alert("x")</script><img src=x onerror=alert(1)>',
    "\u202eRTL override \u0000 null \U0001f600",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_sql_and_html_in_text_are_stored_verbatim(viewer_token_client, admin_token_client, text):
    clean = text.replace("\u0000", "")  # NUL cannot be stored in PostgreSQL text
    response = viewer_token_client.post(
        f"{B}/chatrooms/messages",
        {
            "type": "INTERACTION_TYPE_TEXT",
            "user": {"custom_name": clean},
            "text_message": {"text": clean},
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    block = admin_token_client.post(
        f"{B}/chatrooms/users:block",
        {
            "blocked_user": {
                "id": clean,
                "custom_name": clean,
                "action_taker": {"custom_name": clean},
            }
        },
        format="json",
    )
    assert block.status_code == 200

    history = admin_token_client.get(f"{B}/chatrooms/messages").json()["messages"]
    assert history[0]["text_message"]["text"] == clean
    assert history[0]["user"]["custom_name"] == clean
    state = admin_token_client.get(f"{B}/chatrooms").json()["chatroom"]
    assert state["blocked_users"][0]["custom_name"] == clean
    assert AuditLogEntry.objects.filter(target_id=clean).exists()


def test_a_nul_character_is_refused_not_a_500(viewer_token_client):
    response = viewer_token_client.post(
        f"{B}/chatrooms/messages",
        {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": "a\u0000b"}},
        format="json",
    )

    assert_status(response, 400, 3)


@pytest.mark.parametrize("value", ["1" * 30, "-1", "1e9", "NaN", "9" * 5000])
def test_enormous_or_odd_limits_never_500(viewer_token_client, admin_token_client, value):
    for client, path, param in [
        (viewer_token_client, "/chatrooms/messages", "limit"),
        (admin_token_client, "/chatrooms/polls", "page_size"),
    ]:
        response = client.get(f"{B}{path}", {param: value})
        assert response.status_code in (200, 400), response.content
        if response.status_code == 400:
            assert_status(response, 400, 3)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/chatrooms/not-a-uuid/tokens"),
        ("post", "/chatrooms/1234:change-status"),
        ("put", "/chatrooms/%27%3B--/custom-counters"),
        ("get", "/chatrooms/polls/zzz"),
        ("delete", "/chatrooms/messages/00000000-0000-0000-0000"),
        ("post", "/chatrooms/polls/%00:vote"),
    ],
)
def test_malformed_uuids_in_paths_are_400(api_key_client, admin_token_client, method, path):
    client = (
        api_key_client
        if "/tokens" in path or ":change-status" in path or "custom-counters" in path
        else admin_token_client
    )

    response = getattr(client, method)(f"{B}{path}", {}, format="json")

    assert_status(response, 400, 3)
