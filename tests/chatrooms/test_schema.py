"""The OpenAPI schema: it is served, it lists every operation of the URLconf with
the documented responses, the docs page needs no CDN, and real responses match
it.

The conformance tests validate real response bodies against the schema's
response schema for their operation and status, with `jsonschema`. The render
functions in `chatrooms.api.serializers` build bodies by hand while the
`*Output` serializers document them, so these tests are what keeps the two in
step. Objects are checked closed (`additionalProperties: false`): a key the
server sends but the schema does not document is drift as well.
"""

import json
import re
import uuid
from urllib.parse import quote

import pytest
from django.urls import URLPattern
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from rest_framework.test import APIClient

from chatrooms import services
from chatrooms.api import urls as api_urls
from chatrooms.models import (
    ChatMode,
    Chatroom,
    InteractionType,
    PollStatus,
    PollType,
    Role,
)
from tests import factories
from tests.chatrooms.helpers import TIMESTAMP
from tests.conftest import roll_up

pytestmark = pytest.mark.django_db

API = "/bv/chatroom/v1"
SCHEMA_URL = "/api/schema/"
DOCS_URL = "/api/docs/"
DOCUMENT_URI = "urn:chatroom-openapi"
ALWAYS_DOCUMENTED = {"200", "400", "401", "403", "500"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


# --- The schema, as JSON Schema ---------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi() -> dict:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))


def as_json_schema(node):
    """OpenAPI 3.0 schema objects as JSON Schema 2020-12: `nullable` becomes a
    `null` alternative, and objects are closed unless they say otherwise."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: as_json_schema(value) for key, value in node.items() if key != "nullable"}
    if converted.get("type") == "object" and "additionalProperties" not in converted:
        converted["additionalProperties"] = False
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def format_checker() -> FormatChecker:
    checker = FormatChecker()
    # `date-time` as docs/api.md promises it: RFC 3339 in UTC with milliseconds and Z.
    checker.checks("date-time")(
        lambda value: not isinstance(value, str) or bool(TIMESTAMP.match(value))
    )
    return checker


@pytest.fixture(scope="module")
def registry(openapi) -> Registry:
    resource = Resource.from_contents(as_json_schema(openapi), default_specification=DRAFT202012)
    return Registry().with_resource(DOCUMENT_URI, resource)


def pointer(*segments: str) -> str:
    escaped = (segment.replace("~", "~0").replace("/", "~1") for segment in segments)
    return "".join("/" + quote(segment, safe="~") for segment in escaped)


def schema_path(route: str) -> str:
    """`bv/chatroom/v1/chatrooms/<segment:room_id>/tokens` -> `/bv/.../{room_id}/tokens`."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def operation_of(openapi: dict, response) -> tuple[str, str, dict]:
    path = schema_path(response.resolver_match.route)
    method = response.request["REQUEST_METHOD"].lower()
    assert path in openapi["paths"], f"{path} is not in the schema"
    assert method in openapi["paths"][path], f"{method.upper()} {path} is not in the schema"
    return path, method, openapi["paths"][path][method]


@pytest.fixture
def conforms(openapi, registry):
    """`conforms(response)`: the body matches what the schema documents for its
    operation and status; failures name every mismatch."""

    def check(response) -> None:
        path, method, operation = operation_of(openapi, response)
        status = str(response.status_code)
        where = f"{method.upper()} {path} -> {status}"
        assert status in operation["responses"], f"{where} is not documented"
        content = operation["responses"][status].get("content", {})
        assert "application/json" in content, (
            f"{where} answers {response.content[:80]!r} but documents no JSON body"
        )
        ref = (
            DOCUMENT_URI
            + "#"
            + pointer(
                "paths", path, method, "responses", status, "content", "application/json", "schema"
            )
        )
        validator = Draft202012Validator(
            {"$ref": ref}, registry=registry, format_checker=format_checker()
        )
        errors = [
            f"{'/'.join(map(str, error.absolute_path)) or '(body)'}: {error.message}"
            for error in validator.iter_errors(response.json())
        ]
        assert errors == [], f"{where}: {errors}"

    return check


def test_the_checker_rejects_a_body_that_drifted(openapi, registry, conforms, api_key_client):
    """The control for the conformance tests: they can fail."""
    response = api_key_client.post(f"{API}/chatrooms", {}, format="json")
    conforms(response)

    chat = response.json()["chatroom"]
    drifted = [
        {**chat, "undocumented": 1},
        {**chat, "muted": "false"},
        {**chat, "created_at": "2024-07-29 15:51:28"},
        {**chat, "id": "not-a-uuid"},
        {key: value for key, value in chat.items() if key != "viewer_info"},
    ]
    ref = DOCUMENT_URI + "#" + pointer("components", "schemas", "ChatOutput")
    validator = Draft202012Validator(
        {"$ref": ref}, registry=registry, format_checker=format_checker()
    )
    for body in drifted:
        assert list(validator.iter_errors(body)), body


# --- Served ---------------------------------------------------------------------------------


def test_schema_is_served_as_openapi_yaml(client):
    response = client.get(SCHEMA_URL)

    assert response.status_code == 200
    assert "openapi" in response["Content-Type"]
    assert response.content.startswith(b"openapi: 3.")


def test_schema_is_served_as_json_and_is_the_generated_one(client, openapi):
    response = client.get(SCHEMA_URL, {"format": "json"})

    assert response.status_code == 200
    served = json.loads(response.content)
    assert served["openapi"].startswith("3.")
    assert served["paths"] == openapi["paths"]
    assert served["components"] == openapi["components"]


def test_docs_page_loads_and_uses_only_our_static_files(client, settings):
    response = client.get(DOCS_URL)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert not re.search(r"https?://", html)
    assert not re.search(r"""(?:src|href)\s*=\s*["']//""", html)
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert assets
    # Our own start-up script (a file, for the CSP) names the schema; the rest is static.
    start_up = [asset for asset in assets if asset.startswith(DOCS_URL)]
    assert len(start_up) == 1
    script = client.get(start_up[0])
    assert script.status_code == 200
    assert SCHEMA_URL in script.content.decode()
    assert not re.search(r"https?://", script.content.decode())
    for asset in set(assets) - set(start_up):
        assert asset.startswith(settings.STATIC_URL), asset
        assert client.get(asset).status_code == 200, asset


# --- Every operation -------------------------------------------------------------------------


def routed_operations() -> list[tuple[str, str]]:
    """(method, schema path) of every operation the URLconf routes."""
    operations = []
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        view = pattern.callback.view_class
        path = schema_path("bv/chatroom/v1/" + str(pattern.pattern))
        for method in HTTP_METHODS:
            if method in view.http_method_names and hasattr(view, method):
                operations.append((method, path))
    return operations


ROUTED = routed_operations()


def documented_operations(openapi) -> list[tuple[str, str, dict]]:
    return [
        (method, path, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


@pytest.mark.parametrize(("method", "path"), ROUTED, ids=[f"{m.upper()} {p}" for m, p in ROUTED])
def test_every_routed_operation_is_in_the_schema(openapi, method, path):
    assert method in openapi["paths"].get(path, {})


def test_the_schema_has_no_operation_that_is_not_routed(openapi):
    documented = {(method, path) for method, path, _ in documented_operations(openapi)}

    assert documented == set(ROUTED)


def test_every_operation_documents_200_400_401_403_and_500(openapi):
    missing = {
        f"{method.upper()} {path}": sorted(ALWAYS_DOCUMENTED - set(operation["responses"]))
        for method, path, operation in documented_operations(openapi)
        if not set(operation["responses"]) >= ALWAYS_DOCUMENTED
    }

    assert missing == {}


def test_every_error_response_is_a_status_body(openapi):
    status_ref = "#/components/schemas/StatusOutput"
    wrong = [
        f"{method.upper()} {path} -> {status}"
        for method, path, operation in documented_operations(openapi)
        for status, response in operation["responses"].items()
        if not status.startswith("2")
        and response.get("content", {}).get("application/json", {}).get("schema")
        != {"$ref": status_ref}
    ]

    assert wrong == []


def test_every_operation_with_an_id_in_its_path_documents_404(openapi):
    missing = [
        f"{method.upper()} {path}"
        for method, path, operation in documented_operations(openapi)
        if "{" in path and "404" not in operation["responses"]
    ]

    assert missing == []


def test_every_operation_has_a_unique_operation_id(openapi):
    ids = [operation["operationId"] for _, _, operation in documented_operations(openapi)]

    assert len(ids) == len(set(ids))


# The answers that are files: a report's CSV and a dictionary's patterns, behind their
# signed `uri`s.
FILE_DOWNLOADS = {
    "ChatroomExtension_DownloadChatroomReport": "text/csv",
    "ChatroomExtension_DownloadDictionaryPatternsFile": "text/csv",
}


def test_every_200_documents_a_json_body(openapi):
    without_body = [
        f"{method.upper()} {path}"
        for method, path, operation in documented_operations(openapi)
        if FILE_DOWNLOADS.get(operation["operationId"], "application/json")
        not in operation["responses"]["200"].get("content", {})
    ]

    assert without_body == []


def test_every_operation_documents_a_default_status_response(openapi):
    missing = [
        f"{method.upper()} {path}"
        for method, path, operation in documented_operations(openapi)
        if "default" not in operation["responses"]
    ]

    assert missing == []


def test_operations_name_the_credential_they_need(openapi):
    security = {
        f"{method.upper()} {path.removeprefix(API)}": operation.get("security")
        for method, path, operation in documented_operations(openapi)
    }

    assert security["POST /chatrooms"] == [{"ApiKey": []}]
    assert security["POST /chatrooms/{room_id}/tokens"] == [{"ApiKey": []}]
    # A chatroom token reads its room; an API key lists the rooms (an extension).
    assert security["GET /chatrooms"] == [{"ApiKey": []}, {"ChatroomToken": []}]
    assert security["GET /chatrooms/{room_id}"] == [{"ApiKey": []}]
    assert security["POST /chatrooms/{room_id}/messages"] == [{"ApiKey": []}]
    assert security["PUT /chatrooms/users"] == [{"ChatroomToken": []}]
    assert security["POST /chatrooms:mute"] == [{"ChatroomToken": []}]
    assert not security["POST /chatrooms/tokens:refresh"]
    # Sticker packs: a sticker token or an admin chatroom token, never the API key itself.
    assert security["POST /stickerpacks/tokens"] == [{"ApiKey": []}]
    assert security["GET /stickerpacks"] == [{"StickerToken": []}, {"ChatroomToken": []}]
    assert security["GET /chatrooms/stickerpacks"] == [{"ChatroomToken": []}]


def test_every_security_requirement_names_a_defined_scheme(openapi):
    required = {
        name
        for _, _, operation in documented_operations(openapi)
        for requirement in operation.get("security", [])
        for name in requirement
    }
    defined = openapi["components"].get("securitySchemes", {})

    assert required == {"ApiKey", "ChatroomToken", "DictionaryToken", "StickerToken"}
    assert required <= set(defined)
    assert all(
        scheme["type"] == "http" and scheme["scheme"] == "bearer" for scheme in defined.values()
    )


# --- Real responses match the schema -------------------------------------------------------


def new_poll(question="Tea or coffee?", *, poll_type=PollType.SINGLE_CHOICE):
    return {
        "poll": {
            "type": poll_type,
            "multi_choice": {
                "question": question,
                "options": [
                    {"text": "Tea", "corrected": True},
                    {"text": "Coffee", "corrected": False},
                ],
            },
        }
    }


def ok(response) -> dict:
    """A setup step's body, once it is known to have worked."""
    assert response.status_code == 200, response.content
    return response.json()


def vote(poll_id, poll_type, option_id) -> dict:
    return {
        "vote": {
            "poll": {
                "id": str(poll_id),
                "type": poll_type,
                "multi_choice": {"options": [{"id": str(option_id)}]},
            }
        }
    }


def send(client, message: dict):
    return client.post(f"{API}/chatrooms/messages", message, format="json")


TEXT = {"type": InteractionType.TEXT, "text_message": {"text": "hello"}}


@pytest.fixture
def busy_room(room, admin_token_client, viewer_token_client):
    """The room with a blocked user and their message, a pin, a closed poll, an active
    poll with a vote, a counted counter, viewer info on, a mode, and a deleted message."""
    admin, viewer = admin_token_client, viewer_token_client
    blocked_user = {"id": "troll", "device_id": "troll-device", "custom_name": "Troll"}
    ok(admin.post(f"{API}/chatrooms/users:block", {"blocked_user": blocked_user}, format="json"))
    factories.ChatMessageFactory(room=room, user_id="troll", user_device_id="troll-device")
    sender = {"id": "admin-1", "device_id": "admin-device", "custom_name": "Host"}
    pin = {"message": {"id": "m-1", "text": "Welcome", "sender": sender}}
    ok(admin.post(f"{API}/chatrooms/messages:pin", {"pinned_message": pin}, format="json"))
    closed = ok(admin.post(f"{API}/chatrooms/polls", new_poll("Warm-up?"), format="json"))["poll"]
    for action in ("ACTION_START", "ACTION_CLOSE"):
        change = f"{API}/chatrooms/polls/{closed['id']}:change"
        ok(admin.post(change, {"action": action}, format="json"))
    active = ok(admin.post(f"{API}/chatrooms/polls", new_poll(), format="json"))["poll"]
    change = f"{API}/chatrooms/polls/{active['id']}:change"
    ok(admin.post(change, {"action": "ACTION_START"}, format="json"))
    option_id = active["multi_choice"]["options"][0]["id"]
    ballot = vote(active["id"], active["type"], option_id)
    ok(viewer.post(f"{API}/chatrooms/polls/{active['id']}:vote", ballot, format="json"))
    roll_up(room)
    enable = {"viewer_info": {"enabled": True}}
    ok(admin.put(f"{API}/chatrooms/viewer-infos", enable, format="json"))
    incr = {"value": "+1", "incr": {"key": "like", "value": 3}}
    ok(send(viewer, {"type": InteractionType.CUSTOM, "custom_message": incr}))
    ok(send(viewer, TEXT))
    doomed = ok(send(admin, TEXT))["message"]
    ok(admin.delete(f"{API}/chatrooms/messages/{doomed['id']}"))
    Chatroom.objects.filter(pk=room.pk).update(mode=ChatMode.ONE_WAY)
    return room


def test_create_room_conforms(api_key_client, conforms):
    response = api_key_client.post(
        f"{API}/chatrooms", {"custom_counters": [{"key": "like"}, {"key": "heart"}]}, format="json"
    )

    assert response.status_code == 200
    conforms(response)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.VIEWER])
def test_full_room_state_conforms(busy_room, make_token_client, conforms, role):
    response = make_token_client(busy_room, role).get(f"{API}/chatrooms")

    assert response.status_code == 200
    chat = response.json()["chatroom"]
    # Everything the fixture set up is there, so every part of the shape is checked.
    assert chat["blocked_users"] and chat["pinned_messages"] and chat["custom_counters"]
    assert chat["active_poll"]["status"] == PollStatus.ACTIVE
    assert chat["active_poll"]["votes_count"] == 1
    assert chat["mode"] == ChatMode.ONE_WAY
    conforms(response)


def test_token_and_refresh_responses_conform(room, api_key_client, conforms):
    minted = api_key_client.post(
        f"{API}/chatrooms/{room.id}/tokens", {"role": Role.ADMIN}, format="json"
    )
    refreshed = APIClient().post(
        f"{API}/chatrooms/tokens:refresh",
        {"refresh_token": minted.json()["refresh_token"]},
        format="json",
    )

    assert (minted.status_code, refreshed.status_code) == (200, 200)
    conforms(minted)
    conforms(refreshed)


@pytest.mark.parametrize("role", Role.values)
def test_config_conforms(room, make_token_client, conforms, role):
    response = make_token_client(room, role).get(f"{API}/chatrooms/config")

    assert response.status_code == 200
    conforms(response)


@pytest.mark.parametrize(
    "message",
    [
        {"type": InteractionType.TEXT, "text_message": {"text": "hi"}},
        {"type": InteractionType.CUSTOM, "custom_message": {"value": '{"emoji": "wave"}'}},
        {
            "type": InteractionType.CUSTOM,
            "custom_message": {"value": "", "incr": {"key": "like", "value": 1}},
        },
        {"type": InteractionType.CUSTOM, "custom_message": {"incr": {"key": "heart", "value": 2}}},
    ],
    ids=["text", "custom", "custom-with-incr", "incr-only"],
)
def test_sent_message_conforms(viewer_token_client, conforms, message):
    response = viewer_token_client.post(f"{API}/chatrooms/messages", message, format="json")

    assert response.status_code == 200
    conforms(response)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.VIEWER])
def test_message_history_conforms(busy_room, make_token_client, conforms, role):
    response = make_token_client(busy_room, role).get(f"{API}/chatrooms/messages", {"limit": 100})

    assert response.status_code == 200
    messages = response.json()["messages"]
    assert {m["type"] for m in messages} == {InteractionType.TEXT, InteractionType.CUSTOM}
    if role == Role.ADMIN:  # admins also see deleted messages and blocked users' messages
        assert any(m["user"]["blocked"] for m in messages)
    conforms(response)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.VIEWER])
def test_poll_list_conforms(busy_room, make_token_client, admin_token_client, conforms, role):
    admin_token_client.post(f"{API}/chatrooms/polls", new_poll("Queued?"), format="json")
    client = make_token_client(busy_room, role)

    first = client.get(f"{API}/chatrooms/polls", {"page_size": 1})
    token = first.json()["next_page_token"]
    rest = client.get(f"{API}/chatrooms/polls", {"page_size": 100, "page_token": token})

    assert token
    assert rest.json()["polls"] and rest.json()["next_page_token"] == ""
    conforms(first)
    conforms(rest)


def test_poll_create_get_and_update_conform(admin_token_client, conforms):
    created = admin_token_client.post(
        f"{API}/chatrooms/polls", new_poll(poll_type=PollType.MULTI_CHOICE), format="json"
    )
    poll = created.json()["poll"]
    fetched = admin_token_client.get(f"{API}/chatrooms/polls/{poll['id']}")
    edit = new_poll("Edited?")
    edit["poll"]["multi_choice"]["options"][0]["id"] = poll["multi_choice"]["options"][0]["id"]
    updated = admin_token_client.put(f"{API}/chatrooms/polls/{poll['id']}", edit, format="json")

    assert [r.status_code for r in (created, fetched, updated)] == [200, 200, 200]
    for response in (created, fetched, updated):
        conforms(response)


def test_action_answers_conform(busy_room, admin_token_client, api_key_client, conforms):
    admin = admin_token_client
    queued = admin.post(f"{API}/chatrooms/polls", new_poll("Later?"), format="json").json()
    message = ok(send(admin, TEXT))["message"]
    active = busy_room.polls.get(status=PollStatus.ACTIVE)
    option = active.options.all()[0]
    responses = [
        admin.post(f"{API}/chatrooms:mute", {}, format="json"),
        admin.post(f"{API}/chatrooms:unmute", {}, format="json"),
        admin.put(
            f"{API}/chatrooms/viewer-infos", {"viewer_info": {"enabled": False}}, format="json"
        ),
        admin.put(f"{API}/chatrooms/users", {"custom_name": "Night host"}, format="json"),
        admin.post(f"{API}/chatrooms/users:block", {"blocked_user": {"id": "spam"}}, format="json"),
        admin.post(
            f"{API}/chatrooms/users:unblock", {"unblocked_user": {"id": "spam"}}, format="json"
        ),
        admin.post(
            f"{API}/chatrooms/messages:pin",
            {"pinned_message": {"message": {"id": "m-2"}}},
            format="json",
        ),
        admin.post(
            f"{API}/chatrooms/messages:unpin",
            {"unpinned_message": {"message": {"id": "m-2"}}},
            format="json",
        ),
        admin.delete(f"{API}/chatrooms/messages/{message['id']}"),
        admin.post(
            f"{API}/chatrooms/polls/{active.id}:vote",
            vote(active.id, active.type, option.id),
            format="json",
        ),
        admin.post(
            f"{API}/chatrooms/polls/{active.id}:change", {"action": "ACTION_CLOSE"}, format="json"
        ),
        admin.delete(f"{API}/chatrooms/polls/{queued['poll']['id']}"),
        api_key_client.put(
            f"{API}/chatrooms/{busy_room.id}/custom-counters",
            {"custom_counters": [{"key": "like"}]},
            format="json",
        ),
        api_key_client.post(
            f"{API}/chatrooms/{busy_room.id}:change-status",
            {"action": "ACTION_INACTIVE"},
            format="json",
        ),
    ]

    assert [r.status_code for r in responses] == [200] * len(responses)
    assert all(r.json() == {} for r in responses)
    for response in responses:
        conforms(response)


# --- Error bodies match the schema ---------------------------------------------------------


def test_validation_error_conforms(api_key_client, conforms):
    response = api_key_client.post(
        f"{API}/chatrooms", {"custom_counters": [{"key": "like"}, {"key": "like"}]}, format="json"
    )

    assert response.status_code == 400
    conforms(response)


def test_failed_precondition_conforms(busy_room, admin_token_client, conforms):
    second = admin_token_client.post(f"{API}/chatrooms/polls", new_poll("Second?"), format="json")

    response = admin_token_client.post(
        f"{API}/chatrooms/polls/{second.json()['poll']['id']}:change",
        {"action": "ACTION_START"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == 9
    conforms(response)


def test_unauthenticated_and_permission_denied_conform(
    room, anon_client, viewer_token_client, conforms
):
    unauthenticated = anon_client.get(f"{API}/chatrooms")
    denied = viewer_token_client.post(f"{API}/chatrooms:mute", {}, format="json")

    assert (unauthenticated.status_code, denied.status_code) == (401, 403)
    conforms(unauthenticated)
    conforms(denied)


def test_not_found_conforms(room, admin_token_client, api_key_client, conforms):
    responses = [
        admin_token_client.get(f"{API}/chatrooms/polls/{uuid.uuid4()}"),
        admin_token_client.delete(f"{API}/chatrooms/messages/{uuid.uuid4()}"),
        admin_token_client.post(
            f"{API}/chatrooms/users:unblock", {"unblocked_user": {"id": "nobody"}}, format="json"
        ),
        api_key_client.post(f"{API}/chatrooms/{uuid.uuid4()}/tokens", {}, format="json"),
    ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    for response in responses:
        conforms(response)


def test_second_vote_conforms(busy_room, viewer_token_client, conforms):
    active = busy_room.polls.get(status=PollStatus.ACTIVE)
    option = active.options.all()[0]

    response = viewer_token_client.post(
        f"{API}/chatrooms/polls/{active.id}:vote",
        vote(active.id, active.type, option.id),
        format="json",
    )

    assert response.status_code == 409
    conforms(response)


def test_too_many_pins_conforms(room, admin_token_client, conforms):
    factories.PinnedMessageFactory.create_batch(services.MAX_PINS_PER_ROOM, room=room)

    response = admin_token_client.post(
        f"{API}/chatrooms/messages:pin",
        {"pinned_message": {"message": {"id": "one-too-many"}}},
        format="json",
    )

    assert response.status_code == 429
    conforms(response)


def test_internal_error_conforms(room, viewer_token_client, conforms, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "message_send", explode)

    response = viewer_token_client.post(
        f"{API}/chatrooms/messages",
        {"type": InteractionType.TEXT, "text_message": {"text": "hi"}},
        format="json",
    )

    assert response.status_code == 500
    conforms(response)


# --- What BlendVision's own client calls (issue 12) -----------------------------------------


def test_the_api_key_calls_of_blendvisions_client_are_marked_extensions(openapi):
    paths = openapi["paths"]
    by_id = paths[f"{API}/chatrooms/{{room_id}}"]["get"]
    send_as_server = paths[f"{API}/chatrooms/{{room_id}}/messages"]["post"]
    get_or_list = paths[f"{API}/chatrooms"]["get"]
    create = openapi["components"]["schemas"]["CreateChatroomInputRequest"]["properties"]

    assert "x-extension" in by_id and "x-extension" in send_as_server
    assert by_id["tags"] == send_as_server["tags"] == ["Extensions"]
    # The upstream operation keeps its id; its API-key form is the extension.
    assert get_or_list["operationId"] == "PublicChatroomService_GetChatroom"
    assert "x-extension" in get_or_list
    assert {p["name"] for p in get_or_list["parameters"]} >= {"page", "page_size", "pageSize"}
    assert "Extension" in create["name"]["description"]
    assert "Extension" in create["description"]["description"]


def test_room_list_by_api_key_conforms(busy_room, api_key_client, conforms):
    services.chatroom_update_label(
        actor=services.Actor.system("tests"), room=busy_room, label="Finals", description="Day 2"
    )
    response = api_key_client.get(f"{API}/chatrooms", {"page": 1, "pageSize": 10})

    assert response.status_code == 200
    assert response.json()["chatrooms"][0]["name"] == "Finals"
    conforms(response)


def test_room_by_id_conforms(busy_room, api_key_client, conforms):
    response = api_key_client.get(f"{API}/chatrooms/{busy_room.id}")

    assert response.status_code == 200
    assert response.json()["chatroom"]["blocked_users"]
    conforms(response)


@pytest.mark.parametrize(
    "body",
    [
        {"message": "hi", "userId": "u1"},
        {"message": "hi"},
        {"type": InteractionType.TEXT, "text_message": {"text": "hi"}, "user": {"id": "u1"}},
        {"type": InteractionType.CUSTOM, "custom_message": {"incr": {"key": "like", "value": 1}}},
    ],
    ids=["blendvision-client", "no-user", "interaction-message", "custom-with-incr"],
)
def test_message_sent_with_an_api_key_conforms(room, api_key_client, conforms, body):
    response = api_key_client.post(f"{API}/chatrooms/{room.id}/messages", body, format="json")

    assert response.status_code == 200, response.content
    conforms(response)


# --- Stickers ------------------------------------------------------------------------------


def test_every_sticker_answer_conforms(
    media, sticker_client, api_key_client, admin_token_client, viewer_token_client, conforms
):
    from tests.chatrooms.stickers import gif, png, put_upload

    def ok(response):
        assert response.status_code == 200, response.content
        conforms(response)
        return response.json()

    ok(api_key_client.post(f"{API}/stickerpacks/tokens", {}, format="json"))
    pack = ok(
        sticker_client.post(f"{API}/stickerpacks", {"sticker_pack": {"name": "P"}}, format="json")
    )
    pack_url = f"{API}/stickerpacks/{pack['sticker_pack']['id']}"
    ok(sticker_client.get(f"{API}/stickerpacks"))
    ok(sticker_client.get(pack_url))
    ok(sticker_client.put(pack_url, {"name": "Q"}, format="json"))
    data = png()
    cover = {"sticker_pack": {"cover_image": {"name": "c.png", "size_in_bytes": str(len(data))}}}
    upload = ok(sticker_client.post(f"{pack_url}:cover-upload", cover, format="json"))
    uploaded = put_upload(upload["upload_data"]["presigned_url"], data)
    ok(uploaded)
    ok(sticker_client.post(f"{pack_url}:cover-complete", {}, format="json"))
    items = [
        {"name": "a", "image": {"name": "a.png", "size_in_bytes": str(len(data))}},
        {"image": {"name": "b.gif", "size_in_bytes": str(len(gif()))}},
    ]
    results = ok(
        sticker_client.post(f"{pack_url}/stickers:batch-upload", {"stickers": items}, format="json")
    )["results"]
    ok(sticker_client.get(f"{pack_url}/stickers"))  # pending ones: format null
    for result, body in zip(results, (data, gif()), strict=True):
        put_upload(result["upload_data"]["presigned_url"], body)
    ids = [r["sticker"]["id"] for r in results]
    batches = {"batches": [{"sticker_id": i} for i in ids]}
    ok(sticker_client.post(f"{pack_url}/stickers:batch-complete", batches, format="json"))
    ok(sticker_client.put(f"{pack_url}/stickers/{ids[0]}", {"name": "z"}, format="json"))
    room_pack = f"{API}/chatrooms/stickerpacks/{pack['sticker_pack']['id']}"
    ok(admin_token_client.put(room_pack, {"enabled": True}, format="json"))
    ok(viewer_token_client.get(f"{API}/chatrooms/stickerpacks"))
    ok(admin_token_client.get(f"{API}/chatrooms/stickerpacks:admin-list"))
    ok(admin_token_client.post(f"{API}/chatrooms/stickerpacks:admin-list", {}, format="json"))
    ok(viewer_token_client.get(room_pack))
    message = {
        "type": "INTERACTION_TYPE_STICKER",
        "sticker": {"sticker_pack_id": pack["sticker_pack"]["id"], "sticker_id": ids[1]},
    }
    ok(viewer_token_client.post(f"{API}/chatrooms/messages", message, format="json"))
    ok(viewer_token_client.get(f"{API}/chatrooms/messages"))
    ok(sticker_client.delete(f"{pack_url}/stickers/{ids[1]}"))
    ok(sticker_client.delete(pack_url))
    refused = viewer_token_client.post(f"{API}/chatrooms/messages", message, format="json")
    assert refused.status_code == 404
    conforms(refused)
