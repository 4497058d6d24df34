"""The word-filter API (upstream sections 2.2, 3.8, 3.9): shapes, limits, permissions,
built-ins read-only, CSV upload and download, and filtered messages over REST."""

import base64
import csv
import io
import json
import uuid
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient

from chatrooms import services
from chatrooms.models import AuditAction, AuditLogEntry, ChatMessage, Role
from chatrooms.wordfilter import csvfiles, tokens
from chatrooms.wordfilter import services as wordfilter
from chatrooms.wordfilter.models import ChatroomDictionary, Dictionary, Pattern
from tests.chatrooms.helpers import TIMESTAMP, assert_status, field_violations, same_json_shape
from tests.chatrooms.test_messages_api import history, text

B = "/bv/chatroom/v1"

pytestmark = pytest.mark.django_db

# The documented shapes (reference section 3.12 and the operations' responses).
DICTIONARY = {
    "id": "",
    "name": "",
    "description": "",
    "default": False,
    "pattern_count": 0,
    "created_at": "",
    "updated_at": "",
}
PATTERN = {"id": "", "text": "", "action": "", "pattern_action": ""}


@pytest.fixture
def dictionary_token(api_key) -> str:
    token, _ = tokens.dictionary_token_issue(api_key=api_key[0])
    return token


@pytest.fixture
def dt_client(dictionary_token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {dictionary_token}")
    return client


@pytest.fixture
def custom(system_actor) -> Dictionary:
    dictionary = wordfilter.dictionary_create(
        actor=system_actor, name="Spam", description="Links and offers"
    )
    wordfilter.patterns_create(
        actor=system_actor, dictionary=dictionary, texts=["buy now", "free coins"]
    )
    return dictionary


def english() -> Dictionary:
    return Dictionary.objects.get(default=True, language="en")


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


# --- Dictionary tokens -----------------------------------------------------------------


def test_an_api_key_mints_a_dictionary_token(api_key_client):
    body = ok(api_key_client.post(f"{B}/dictionaries/tokens", {}, format="json"))

    assert set(body) == {"token", "expires_in"}
    assert body["expires_in"] == 604800
    assert AuditLogEntry.objects.filter(action=AuditAction.DICTIONARY_TOKEN).count() == 1
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert client.get(f"{B}/dictionaries").status_code == 200


def test_only_an_api_key_mints_dictionary_tokens(anon_client, admin_token_client, dt_client):
    assert_status(anon_client.post(f"{B}/dictionaries/tokens", {}, format="json"), 401, 16)
    assert_status(admin_token_client.post(f"{B}/dictionaries/tokens", {}, format="json"), 403, 7)
    assert_status(dt_client.post(f"{B}/dictionaries/tokens", {}, format="json"), 403, 7)


def test_revoking_the_api_key_revokes_its_dictionary_tokens(api_key, dt_client, system_actor):
    services.api_key_revoke(actor=system_actor, api_key=api_key[0])

    body = assert_status(dt_client.get(f"{B}/dictionaries"), 401, 16)
    assert body["details"][0]["reason"] == "TOKEN_REVOKED"


def test_a_forged_or_expired_dictionary_token_is_401(dictionary_token, settings):
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Bearer {dictionary_token[:-2]}xx")
    assert_status(forged.get(f"{B}/dictionaries"), 401, 16)
    settings.CHATROOM_DICTIONARY_TOKEN_TTL = -10
    api_key = services.api_key_create(actor=services.Actor.system("t"), name="k")[0]
    expired = APIClient()
    expired.credentials(
        HTTP_AUTHORIZATION=f"Bearer {tokens.dictionary_token_issue(api_key=api_key)[0]}"
    )
    body = assert_status(expired.get(f"{B}/dictionaries"), 401, 16)
    assert body["details"][0]["reason"] == "TOKEN_EXPIRED"


# --- The permission matrix ---------------------------------------------------------------

# (method, path, body) of every dictionary operation; "{d}" a custom dictionary, "{p}" one
# of its patterns.
DICTIONARY_OPERATIONS = [
    ("get", "/dictionaries", None),
    ("post", "/dictionaries", {"name": "New"}),
    ("get", "/dictionaries/{d}", None),
    ("put", "/dictionaries/{d}", {"description": "changed"}),
    ("delete", "/dictionaries/{d}", None),
    ("get", "/dictionaries/{d}/patterns", None),
    ("post", "/dictionaries/{d}/patterns", {"text": "hello"}),
    ("post", "/dictionaries/{d}/patterns:batch-create", {"texts": ["a", "b"]}),
    ("post", "/dictionaries/{d}/patterns:download", {}),
    ("post", "/dictionaries/{d}/patterns:upload", {"content_type": "text/csv", "data": ""}),
    ("put", "/patterns/{p}", {"text": "renamed"}),
    ("delete", "/patterns/{p}", None),
]


def call(client, method, path, body, custom):
    pattern = custom.patterns.order_by("created_at").first()
    url = B + path.format(d=custom.pk, p=pattern.pk)
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    DICTIONARY_OPERATIONS,
    ids=[f"{m.upper()} {p}" for m, p, _ in DICTIONARY_OPERATIONS],
)
@pytest.mark.parametrize(
    ("credential", "status", "code"),
    [
        ("none", 401, 16),
        ("viewer", 403, 7),
        ("guest", 403, 7),
        ("api_key", 403, 7),
        ("dictionary_token", 200, None),
        ("admin", 200, None),
        ("admin_of_another_room", 200, None),  # dictionaries belong to the organisation
    ],
)
def test_dictionary_operations_take_a_dictionary_token_or_an_admin_token(
    request, custom, method, path, body, credential, status, code
):
    client = {
        "none": lambda: request.getfixturevalue("anon_client"),
        "viewer": lambda: request.getfixturevalue("viewer_token_client"),
        "guest": lambda: request.getfixturevalue("guest_token_client"),
        "api_key": lambda: request.getfixturevalue("api_key_client"),
        "dictionary_token": lambda: request.getfixturevalue("dt_client"),
        "admin": lambda: request.getfixturevalue("admin_token_client"),
        "admin_of_another_room": lambda: request.getfixturevalue("other_room_admin_client"),
    }[credential]()
    before = AuditLogEntry.objects.count()

    response = call(client, method, path, body, custom)

    if code is None:
        assert response.status_code == status, response.content
    else:
        assert_status(response, status, code)
        assert AuditLogEntry.objects.count() == before  # nothing happened


ROOM_OPERATIONS = [
    ("post", "/chatrooms/dictionaries:batch-update", "batch"),
    ("post", "/chatrooms/dictionaries/{d}:enable", {}),
    ("post", "/chatrooms/dictionaries/{d}:disable", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), ROOM_OPERATIONS, ids=[p for _, p, _ in ROOM_OPERATIONS]
)
@pytest.mark.parametrize(
    ("credential", "status", "code"),
    [
        ("none", 401, 16),
        ("viewer", 403, 7),
        ("guest", 403, 7),
        ("api_key", 403, 7),
        ("dictionary_token", 403, 7),
        ("admin", 200, None),
    ],
)
def test_room_changes_need_an_admin_token_of_the_room(
    request, room, custom, method, path, body, credential, status, code
):
    client = {
        "none": lambda: request.getfixturevalue("anon_client"),
        "viewer": lambda: request.getfixturevalue("viewer_token_client"),
        "guest": lambda: request.getfixturevalue("guest_token_client"),
        "api_key": lambda: request.getfixturevalue("api_key_client"),
        "dictionary_token": lambda: request.getfixturevalue("dt_client"),
        "admin": lambda: request.getfixturevalue("admin_token_client"),
    }[credential]()
    if body == "batch":
        body = {"ids": [str(custom.pk)], "enabled": True}

    response = getattr(client, method)(B + path.format(d=custom.pk), body, format="json")

    if code is None:
        assert response.status_code == status, response.content
    else:
        assert_status(response, status, code)


def test_an_admin_of_another_room_changes_only_their_own_room(
    room, custom, other_room_admin_client
):
    url = f"{B}/chatrooms/dictionaries/{custom.pk}:enable"
    ok(other_room_admin_client.post(url, {}, format="json"))

    assert not ChatroomDictionary.objects.filter(room=room).exists()
    assert ChatroomDictionary.objects.filter(dictionary=custom).count() == 1


@pytest.mark.parametrize(
    ("credential", "status", "code"),
    [
        ("anon_client", 401, 16),
        ("api_key_client", 403, 7),
        ("dt_client", 403, 7),
        ("viewer_token_client", 200, None),
        ("guest_token_client", 200, None),
    ],
)
def test_any_chatroom_token_lists_its_rooms_dictionaries(request, credential, status, code):
    response = request.getfixturevalue(credential).get(f"{B}/chatrooms/dictionaries")
    if code is None:
        assert response.status_code == status
    else:
        assert_status(response, status, code)


# --- Shapes ------------------------------------------------------------------------------


def test_dictionary_crud_shapes(dt_client):
    created = ok(
        dt_client.post(
            f"{B}/dictionaries",
            {"name": "Spam", "description": "Offers"},
            format="json",
        )
    )
    dictionary = created["dictionary"]
    assert set(created) == {"dictionary"}
    assert same_json_shape(dictionary, DICTIONARY) == []
    assert dictionary["name"] == "Spam"
    assert dictionary["default"] is False
    assert dictionary["pattern_count"] == 0
    assert dictionary["match_mode"] == "MATCH_MODE_EXACT"  # the extension, upstream's way
    assert TIMESTAMP.match(dictionary["created_at"])
    url = f"{B}/dictionaries/{dictionary['id']}"

    assert ok(dt_client.get(url)) == {"dictionary": dictionary}

    updated = ok(dt_client.put(url, {"name": "Offers"}, format="json"))["dictionary"]
    assert (updated["name"], updated["description"]) == ("Offers", "Offers")
    updated = ok(dt_client.put(url, {"description": ""}, format="json"))["dictionary"]
    assert (updated["name"], updated["description"]) == ("Offers", "")

    assert ok(dt_client.delete(url)) == {}
    assert_status(dt_client.get(url), 404, 5)
    actions = list(AuditLogEntry.objects.order_by("id").values_list("action", flat=True).distinct())
    assert {
        AuditAction.DICTIONARY_CREATE,
        AuditAction.DICTIONARY_UPDATE,
        AuditAction.DICTIONARY_DELETE,
    } <= set(actions)


def test_list_dictionaries_pages_with_page_token(dt_client, custom):
    first = ok(dt_client.get(f"{B}/dictionaries", {"page_size": 2}))
    assert set(first) == {"dictionaries", "next_page_token"}
    assert [d["name"] for d in first["dictionaries"]] == ["English", "Japanese"]
    assert all(d["default"] for d in first["dictionaries"])
    second = ok(
        dt_client.get(f"{B}/dictionaries", {"page_size": 2, "page_token": first["next_page_token"]})
    )
    assert [d["name"] for d in second["dictionaries"]] == ["Chinese", "Spam"]
    assert second["next_page_token"] == ""
    spam = second["dictionaries"][1]
    assert spam["pattern_count"] == 2
    for d in first["dictionaries"] + second["dictionaries"]:
        assert same_json_shape(d, DICTIONARY) == []
    assert_status(dt_client.get(f"{B}/dictionaries", {"page_token": "junk!"}), 400, 3)


def test_pattern_operations_shapes(dt_client, custom):
    base = f"{B}/dictionaries/{custom.pk}/patterns"
    created = ok(dt_client.post(base, {"text": "scam"}, format="json"))
    assert set(created) == {"pattern"}
    assert same_json_shape(created["pattern"], PATTERN) == []
    assert created["pattern"]["text"] == "scam"
    assert created["pattern"]["pattern_action"] == "PATTERN_ACTION_TAGGING"

    batch = ok(dt_client.post(f"{base}:batch-create", {"texts": ["x1", "x2"]}, format="json"))
    assert set(batch) == {"patterns"}
    assert [p["text"] for p in batch["patterns"]] == ["x1", "x2"]

    url = f"{B}/patterns/{created['pattern']['id']}"
    edited = ok(dt_client.put(url, {"text": "scams"}, format="json"))
    assert edited["pattern"] == {**created["pattern"], "text": "scams"}
    assert ok(dt_client.delete(url)) == {}
    assert_status(dt_client.delete(url), 404, 5)
    assert_status(dt_client.put(url, {"text": "x"}, format="json"), 404, 5)
    assert ok(dt_client.get(f"{B}/dictionaries/{custom.pk}"))["dictionary"]["pattern_count"] == 4


def test_patterns_list_with_page_numbers(dt_client, custom, system_actor):
    wordfilter.patterns_create(
        actor=system_actor, dictionary=custom, texts=[f"p{i}" for i in range(23)]
    )
    base = f"{B}/dictionaries/{custom.pk}/patterns"

    page = ok(dt_client.get(base, {"current_page": 3, "items_per_page": 10}))

    assert set(page) == {"patterns", "pagination"}
    assert page["pagination"] == {"items_per_page": 10, "current_page": 3, "total_items": 25}
    assert [p["text"] for p in page["patterns"]] == ["p18", "p19", "p20", "p21", "p22"]
    for pattern in page["patterns"]:
        assert same_json_shape(pattern, PATTERN) == []
    first = ok(dt_client.get(base))
    assert first["pagination"] == {"items_per_page": 10, "current_page": 1, "total_items": 25}
    assert [p["text"] for p in first["patterns"]][:3] == ["buy now", "free coins", "p0"]
    assert ok(dt_client.get(base, {"items_per_page": 1000}))["pagination"]["items_per_page"] == 100
    assert ok(dt_client.get(base, {"current_page": 9}))["patterns"] == []
    assert_status(dt_client.get(base, {"current_page": 0}), 400, 3)
    assert_status(dt_client.get(base, {"items_per_page": "many"}), 400, 3)


def test_unknown_and_malformed_ids(dt_client):
    unknown = uuid.uuid4()
    assert_status(dt_client.get(f"{B}/dictionaries/{unknown}"), 404, 5)
    assert_status(dt_client.get(f"{B}/dictionaries/{unknown}/patterns"), 404, 5)
    assert_status(dt_client.put(f"{B}/patterns/{unknown}", {"text": "a"}, format="json"), 404, 5)
    assert_status(dt_client.get(f"{B}/dictionaries/not-a-uuid"), 400, 3)
    assert_status(dt_client.delete(f"{B}/patterns/not-a-uuid"), 400, 3)


# --- Limits ------------------------------------------------------------------------------


def test_at_most_three_custom_dictionaries(dt_client):
    for name in ("One", "Two", "Three"):
        ok(dt_client.post(f"{B}/dictionaries", {"name": name}, format="json"))

    body = assert_status(
        dt_client.post(f"{B}/dictionaries", {"name": "Four"}, format="json"), 429, 8
    )
    assert "3" in body["message"]
    assert Dictionary.objects.count() == 6


@pytest.mark.parametrize(
    ("name", "status"),
    [("x" * 29, 200), ("x" * 30, 400), ("", 400), ("   ", 400)],
)
def test_a_dictionary_name_is_under_30_characters(dt_client, name, status):
    response = dt_client.post(f"{B}/dictionaries", {"name": name}, format="json")
    if status == 200:
        assert ok(response)["dictionary"]["name"] == name
    else:
        body = assert_status(response, 400, 3)
        assert "name" in field_violations(body)


def test_names_and_texts_must_be_strings(dt_client, custom):
    assert_status(dt_client.post(f"{B}/dictionaries", {"name": 5}, format="json"), 400, 3)
    assert_status(dt_client.post(f"{B}/dictionaries", {}, format="json"), 400, 3)
    base = f"{B}/dictionaries/{custom.pk}/patterns"
    assert_status(dt_client.post(base, {"text": 5}, format="json"), 400, 3)
    assert_status(dt_client.post(f"{base}:batch-create", {"texts": "a"}, format="json"), 400, 3)
    assert_status(
        dt_client.post(f"{B}/dictionaries", {"name": "a", "match_mode": "REGEX"}, format="json"),
        400,
        3,
    )


@pytest.mark.parametrize(
    ("pattern", "status", "code"),
    [
        ("x" * 40, 200, None),
        ("x" * 41, 400, 3),
        ("bad-word_2", 200, None),
        ("two words", 200, None),
        ("日本語", 200, None),
        ("a!b", 400, 3),
        ("a.b", 400, 3),
        ("a,b", 400, 3),
        ("@@@", 400, 3),
        ("", 400, 3),
        ("buy now", 409, 6),  # already there
        ("BUY NOW", 409, 6),  # case-insensitively
    ],
)
def test_pattern_rules(dt_client, custom, pattern, status, code):
    response = dt_client.post(
        f"{B}/dictionaries/{custom.pk}/patterns", {"text": pattern}, format="json"
    )
    if code is None:
        assert ok(response)["pattern"]["text"] == pattern
    else:
        assert_status(response, status, code)
        assert custom.patterns.count() == 2


def test_batch_create_is_all_or_nothing(dt_client, custom):
    url = f"{B}/dictionaries/{custom.pk}/patterns:batch-create"
    assert_status(dt_client.post(url, {"texts": ["ok", "not ok!"]}, format="json"), 400, 3)
    assert_status(dt_client.post(url, {"texts": ["ok", "OK"]}, format="json"), 400, 3)
    assert_status(dt_client.post(url, {"texts": ["ok", "free coins"]}, format="json"), 409, 6)
    assert_status(dt_client.post(url, {"texts": []}, format="json"), 400, 3)
    assert custom.patterns.count() == 2


def test_at_most_1000_patterns_per_dictionary(dt_client, custom):
    url = f"{B}/dictionaries/{custom.pk}/patterns"
    texts = [f"w{i}" for i in range(998)]
    assert (
        len(ok(dt_client.post(f"{url}:batch-create", {"texts": texts}, format="json"))["patterns"])
        == 998
    )

    body = assert_status(dt_client.post(url, {"text": "one more"}, format="json"), 429, 8)
    assert body["details"][0]["reason"] == "PATTERN_LIMIT"
    assert_status(dt_client.post(f"{url}:batch-create", {"texts": ["a"]}, format="json"), 429, 8)
    assert custom.patterns.count() == 1000
    too_many = "\n".join(f"u{i}" for i in range(1001)).encode()
    response = dt_client.post(f"{url}:upload", too_many, content_type="text/csv")
    assert_status(response, 429, 8)
    assert custom.patterns.count() == 1000


# --- Built-ins ---------------------------------------------------------------------------


def test_the_builtins_are_listed_as_defaults_with_their_words(dt_client):
    listed = ok(dt_client.get(f"{B}/dictionaries"))["dictionaries"]
    builtins = [d for d in listed if d["default"]]
    assert [d["name"] for d in builtins] == ["English", "Japanese", "Chinese"]
    assert all(d["pattern_count"] > 150 for d in builtins)
    page = ok(dt_client.get(f"{B}/dictionaries/{builtins[2]['id']}/patterns"))
    assert page["pagination"]["total_items"] == builtins[2]["pattern_count"]


def test_the_builtins_are_read_only(dt_client):
    dictionary = english()
    pattern = dictionary.patterns.first()
    count = dictionary.patterns.count()
    base = f"{B}/dictionaries/{dictionary.pk}"
    refused = [
        dt_client.put(base, {"name": "Mine"}, format="json"),
        dt_client.put(base, {"description": "mine"}, format="json"),
        dt_client.delete(base),
        dt_client.post(f"{base}/patterns", {"text": "new"}, format="json"),
        dt_client.post(f"{base}/patterns:batch-create", {"texts": ["new"]}, format="json"),
        dt_client.post(f"{base}/patterns:upload", b"new\n", content_type="text/csv"),
        dt_client.put(f"{B}/patterns/{pattern.pk}", {"text": "new"}, format="json"),
        dt_client.delete(f"{B}/patterns/{pattern.pk}"),
    ]
    for response in refused:
        body = assert_status(response, 400, 9)
        assert body["details"][0]["reason"] == "DICTIONARY_READ_ONLY"
    dictionary.refresh_from_db()
    assert (dictionary.name, dictionary.patterns.count()) == ("English", count)
    # The download works, and the extension's match_mode may change.
    assert ok(dt_client.post(f"{base}/patterns:download", {}, format="json"))["uri"]
    changed = ok(dt_client.put(base, {"match_mode": "MATCH_MODE_WORD"}, format="json"))
    assert changed["dictionary"]["match_mode"] == "MATCH_MODE_WORD"


# --- CSV upload and download -------------------------------------------------------------


def download(client, dictionary) -> bytes:
    uri = ok(client.post(f"{B}/dictionaries/{dictionary.pk}/patterns:download", {}, format="json"))[
        "uri"
    ]
    assert uri.startswith("http://testserver/")
    parts = urlsplit(uri)
    response = APIClient().get(f"{parts.path}?{parts.query}")  # the link is the credential
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    return response.content


def test_upload_replaces_the_patterns_from_a_raw_csv_body(dt_client, custom):
    data = (
        "\ufeff"  # a byte-order mark, as spreadsheet programs write
        'scam,"quoted one"\r\n'
        '"  spaced  ",\r\n'
        "\r\n"
        "傻逼,グループ セックス\n"
        "SCAM\n"  # repeats are kept once
    ).encode()

    response = dt_client.post(
        f"{B}/dictionaries/{custom.pk}/patterns:upload", data, content_type="text/csv"
    )

    assert ok(response) == {}
    assert list(custom.patterns.order_by("created_at", "id").values_list("text", flat=True)) == [
        "scam",
        "quoted one",
        "spaced",
        "傻逼",
        "グループ セックス",
    ]
    entry = AuditLogEntry.objects.get(action=AuditAction.PATTERNS_REPLACE)
    assert (entry.before, entry.after) == ({"pattern_count": 2}, {"pattern_count": 5})


def test_upload_takes_the_json_httpbody_form(dt_client, custom):
    body = {
        "content_type": "text/csv",
        "data": base64.b64encode(b"one\ntwo\n").decode(),
    }
    ok(dt_client.post(f"{B}/dictionaries/{custom.pk}/patterns:upload", body, format="json"))

    assert sorted(custom.patterns.values_list("text", flat=True)) == ["one", "two"]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"ok\nnot ok!\n", "text/csv"),  # an invalid pattern refuses the whole file
        (b"\xff\xfe bad bytes", "text/csv"),
        (b'"unterminated\n', "text/csv"),
        (b'{"data": "%%%"}', "application/json"),
        (b'{"data": 5}', "application/json"),
        (b"{not json", "application/json"),
        (b"[]", "application/json"),
    ],
)
def test_a_bad_upload_is_400_and_changes_nothing(dt_client, custom, data, content_type):
    response = dt_client.post(
        f"{B}/dictionaries/{custom.pk}/patterns:upload", data, content_type=content_type
    )

    assert_status(response, 400, 3)
    assert custom.patterns.count() == 2


def test_download_and_upload_round_trip(dt_client, custom, system_actor):
    wordfilter.patterns_replace(
        actor=system_actor,
        dictionary=custom,
        texts=["plain", "two words", "with-dash_and_underscore", "傻逼", "グループ セックス"],
    )
    first = download(dt_client, custom)

    assert first.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(first.decode("utf-8-sig"), newline="")))
    assert rows == [
        ["plain"],
        ["two words"],
        ["with-dash_and_underscore"],
        ["傻逼"],
        ["グループ セックス"],
    ]
    other = wordfilter.dictionary_create(actor=system_actor, name="Copy")
    ok(
        dt_client.post(
            f"{B}/dictionaries/{other.pk}/patterns:upload", first, content_type="text/csv"
        )
    )
    assert download(dt_client, other) == first


def test_the_download_link_is_signed_and_expires(dt_client, custom, monkeypatch):
    uri = ok(dt_client.post(f"{B}/dictionaries/{custom.pk}/patterns:download", {}, format="json"))[
        "uri"
    ]
    parts = urlsplit(uri)
    anyone = APIClient()
    tampered = parts.query.replace("token=", "token=x")
    body = assert_status(anyone.get(f"{parts.path}?{tampered}"), 403, 7)
    assert body["details"][0]["reason"] == "DOWNLOAD_LINK_INVALID"
    other = wordfilter.dictionary_create(actor=services.Actor.system("t"), name="Other")
    other_path = parts.path.replace(str(custom.pk), str(other.pk))
    assert_status(anyone.get(f"{other_path}?{parts.query}"), 403, 7)  # another dictionary
    assert_status(anyone.get(parts.path), 403, 7)  # no token

    monkeypatch.setattr(csvfiles, "LINK_TTL_SECONDS", -1)
    body = assert_status(anyone.get(f"{parts.path}?{parts.query}"), 403, 7)
    assert body["details"][0]["reason"] == "DOWNLOAD_LINK_EXPIRED"


# --- The room's dictionaries ------------------------------------------------------------


def test_list_room_dictionaries_with_enabled(viewer_token_client, room, custom, system_actor):
    wordfilter.room_dictionaries_set(
        actor=system_actor, room=room, dictionary_ids=[custom.pk], enabled=True
    )

    body = ok(viewer_token_client.get(f"{B}/chatrooms/dictionaries"))

    assert set(body) == {"results", "next_page_token"}
    assert [(r["dictionary"]["name"], r["enabled"]) for r in body["results"]] == [
        ("English", False),
        ("Japanese", False),
        ("Chinese", False),
        ("Spam", True),
    ]
    for result in body["results"]:
        assert set(result) == {"dictionary", "enabled"}
        assert same_json_shape(result["dictionary"], DICTIONARY) == []
    paged = ok(viewer_token_client.get(f"{B}/chatrooms/dictionaries", {"page_size": 3}))
    assert len(paged["results"]) == 3 and paged["next_page_token"]


def test_batch_update_enables_and_disables(admin_token_client, room, custom):
    ids = [str(english().pk), str(custom.pk)]
    url = f"{B}/chatrooms/dictionaries:batch-update"

    body = ok(admin_token_client.post(url, {"ids": ids, "enabled": True}, format="json"))

    assert set(body) == {"results"}
    assert [(r["dictionary"]["id"], r["enabled"]) for r in body["results"]] == [
        (ids[0], True),
        (ids[1], True),
    ]
    assert body["results"][1]["dictionary"]["pattern_count"] == 2
    assert ChatroomDictionary.objects.filter(room=room).count() == 2
    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_DICTIONARIES)
    assert entry.room_id == room.pk
    assert entry.after["enabled"] is True

    ok(admin_token_client.post(url, {"ids": ids[:1], "enabled": False}, format="json"))
    assert list(
        ChatroomDictionary.objects.filter(room=room).values_list("dictionary", flat=True)
    ) == [custom.pk]
    # Nothing changed: no audit row.
    ok(admin_token_client.post(url, {"ids": ids[:1], "enabled": False}, format="json"))
    assert AuditLogEntry.objects.filter(action=AuditAction.ROOM_DICTIONARIES).count() == 2


def test_batch_update_with_an_unknown_id_changes_nothing(admin_token_client, room, custom):
    url = f"{B}/chatrooms/dictionaries:batch-update"
    ids = [str(custom.pk), str(uuid.uuid4())]
    assert_status(
        admin_token_client.post(url, {"ids": ids, "enabled": True}, format="json"), 404, 5
    )
    assert not ChatroomDictionary.objects.exists()
    assert_status(
        admin_token_client.post(url, {"ids": ["x"], "enabled": True}, format="json"), 400, 3
    )
    assert_status(admin_token_client.post(url, {"ids": ids[:1]}, format="json"), 400, 3)
    assert_status(
        admin_token_client.post(url, {"ids": ids[:1], "enabled": "yes"}, format="json"), 400, 3
    )


def test_enable_and_disable_one(admin_token_client, room, custom):
    base = f"{B}/chatrooms/dictionaries/{custom.pk}"
    assert ok(admin_token_client.post(f"{base}:enable", {}, format="json")) == {}
    assert ok(admin_token_client.post(f"{base}:enable", {}, format="json")) == {}
    assert ChatroomDictionary.objects.filter(room=room, dictionary=custom).count() == 1
    assert ok(admin_token_client.post(f"{base}:disable", {}, format="json")) == {}
    assert not ChatroomDictionary.objects.exists()
    unknown = f"{B}/chatrooms/dictionaries/{uuid.uuid4()}:enable"
    assert_status(admin_token_client.post(unknown, {}, format="json"), 404, 5)


# --- Filtered messages -------------------------------------------------------------------


@pytest.fixture
def filtering(room, custom, system_actor):
    wordfilter.room_dictionaries_set(
        actor=system_actor, room=room, dictionary_ids=[custom.pk], enabled=True
    )
    return custom


def test_a_filtered_message_over_rest_history(filtering, room, make_token_client):
    sender = make_token_client(room, Role.VIEWER, subject="sender")
    bystander = make_token_client(room, Role.VIEWER, subject="bystander")
    admin = make_token_client(room, Role.ADMIN, subject="host")
    other_admin_elsewhere = None  # admins of other rooms cannot read this room at all
    assert other_admin_elsewhere is None

    sent = ok(text(sender, "Free Coins"))["message"]["text_message"]

    assert sent["filtered"] is True
    assert (
        same_json_shape(
            sent["filter_hit_result"],
            {"pattern_id": "", "pattern_text": "", "dictionary_id": "", "dictionary_name": ""},
        )
        == []
    )
    assert sent["filter_hit_result"]["pattern_text"] == "free coins"
    assert history(bystander) == []
    assert [m["text_message"]["filtered"] for m in history(sender)] == [True]
    assert [m["text_message"]["filter_hit_result"]["dictionary_name"] for m in history(admin)] == [
        "Spam"
    ]


def test_the_server_side_send_is_filtered_too(filtering, room, api_key_client, make_token_client):
    response = api_key_client.post(
        f"{B}/chatrooms/{room.pk}/messages",
        {"message": "buy now", "user": {"id": "shop-bot", "custom_name": "Shop"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["message"]["text_message"]["filtered"] is True
    assert history(make_token_client(room, Role.VIEWER, subject="bystander")) == []


def test_admins_are_filtered_like_everyone(filtering, room, admin_token_client, make_token_client):
    assert ok(text(admin_token_client, "buy now"))["message"]["text_message"]["filtered"] is True
    assert history(make_token_client(room, Role.VIEWER, subject="bystander")) == []


def test_a_disabled_dictionary_filters_nothing(
    filtering, room, admin_token_client, make_token_client
):
    ok(
        admin_token_client.post(
            f"{B}/chatrooms/dictionaries/{filtering.pk}:disable", {}, format="json"
        )
    )
    sender = make_token_client(room, Role.VIEWER, subject="sender")
    assert ok(text(sender, "buy now"))["message"]["text_message"] == {
        "text": "buy now",
        "filtered": False,
    }


def test_approve_shows_it_to_the_room(filtering, room, make_token_client, system_actor):
    sender = make_token_client(room, Role.VIEWER, subject="sender")
    bystander = make_token_client(room, Role.VIEWER, subject="bystander")
    message_id = ok(text(sender, "buy now"))["message"]["id"]

    wordfilter.filtered_message_approve(actor=system_actor, room=room, message_id=message_id)

    assert [m["text_message"] for m in history(bystander)] == [
        {"text": "buy now", "filtered": False}
    ]
    # A block and an unblock later, it is still shown (approved).
    services.user_block(actor=system_actor, room=room, user_id="sender")
    assert history(bystander) == []
    services.user_unblock(actor=system_actor, room=room, user_id="sender")
    assert len(history(bystander)) == 1
    assert ChatMessage.objects.get(pk=message_id).sender_hidden is False


@pytest.mark.parametrize("n", [1, 30])
def test_sending_with_the_filter_on_costs_the_same_queries(
    filtering, room, n, django_assert_num_queries
):
    from tests.chatrooms.test_query_counts import SEND_QUERIES, batch_of_senders

    english_dictionary = english()
    wordfilter.room_dictionaries_set(
        actor=services.Actor.system("t"),
        room=room,
        dictionary_ids=[english_dictionary.pk],
        enabled=True,
    )
    incoming = batch_of_senders(f"v{i}" for i in range(n))
    incoming[0] = services.IncomingMessage(
        actor=incoming[0].actor, type=incoming[0].type, sent_at=incoming[0].sent_at, text="buy now"
    )
    services.messages_send(room=room, incoming=batch_of_senders(["warm"]))  # compiles

    with django_assert_num_queries(SEND_QUERIES):
        # 1 savepoint; 2 insert; 3 release the savepoint. The active blocks, the enabled
        # dictionaries and the compiled matcher were read by the warm-up send, and are
        # kept per state version (and dictionary versions) and process.
        result = services.messages_send(room=room, incoming=incoming)

    assert [m.filter_status for m in result.stored][:1] == ["held"]
    assert len(result.stored) == n


def test_a_deleted_dictionarys_hits_stay_filtered(filtering, room, make_token_client, dt_client):
    sender = make_token_client(room, Role.VIEWER, subject="sender")
    message_id = ok(text(sender, "buy now"))["message"]["id"]

    ok(dt_client.delete(f"{B}/dictionaries/{filtering.pk}"))

    assert not Pattern.objects.filter(dictionary_id=filtering.pk).exists()
    assert ChatMessage.objects.get(pk=message_id).sender_hidden is True
    assert ok(text(sender, "buy now"))["message"]["text_message"]["filtered"] is False


def test_upload_reads_httpbody_json_whatever_the_content_type(dt_client, custom):
    """`curl -d '{...}'` sends application/x-www-form-urlencoded; a CSV cannot start with {."""
    data = base64.b64encode(b"curl\n").decode()
    body = json.dumps({"content_type": "text/csv", "data": data})
    response = dt_client.post(
        f"{B}/dictionaries/{custom.pk}/patterns:upload",
        body,
        content_type="application/x-www-form-urlencoded",
    )

    assert ok(response) == {}
    assert list(custom.patterns.values_list("text", flat=True)) == ["curl"]


def test_pages_far_past_the_end_are_refused_or_empty(dt_client, custom, viewer_token_client):
    base = f"{B}/dictionaries/{custom.pk}/patterns"
    assert ok(dt_client.get(base, {"current_page": 1_000_000}))["patterns"] == []
    assert_status(dt_client.get(base, {"current_page": 10**12}), 400, 3)
    huge = base64.urlsafe_b64encode(b"o:" + b"9" * 30).decode().rstrip("=")
    assert_status(dt_client.get(f"{B}/dictionaries", {"page_token": huge}), 400, 3)
    assert_status(
        viewer_token_client.get(f"{B}/chatrooms/dictionaries", {"page_token": huge}), 400, 3
    )
    far = base64.urlsafe_b64encode(b"o:999999").decode().rstrip("=")
    assert ok(dt_client.get(f"{B}/dictionaries", {"page_token": far}))["dictionaries"] == []
