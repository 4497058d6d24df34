"""Who may call each sticker operation (reference 1.2, 2.3): the /stickerpacks
operations take a sticker token or an admin chatroom token (of any room: packs belong
to the organisation); the room-side ones a chatroom token (admin for the admin list and
enabling); minting a sticker token takes the API key."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from chatrooms import services
from tests.chatrooms.helpers import assert_status
from tests.chatrooms.stickers import API, enable, ready_pack

pytestmark = pytest.mark.django_db

OK, UNAUTHENTICATED, DENIED = 200, 401, 403

# (name, method, path template, body). {pack} and {sticker} are filled per test.
MANAGE = [
    ("list packs", "get", "/stickerpacks", None),
    ("create pack", "post", "/stickerpacks", {"sticker_pack": {"name": "New"}}),
    ("get pack", "get", "/stickerpacks/{pack}", None),
    ("rename pack", "put", "/stickerpacks/{pack}", {"name": "Renamed"}),
    (
        "cover upload",
        "post",
        "/stickerpacks/{pack}:cover-upload",
        {"sticker_pack": {"cover_image": {"name": "c.png", "size_in_bytes": "10"}}},
    ),
    ("list stickers", "get", "/stickerpacks/{pack}/stickers", None),
    (
        "batch upload",
        "post",
        "/stickerpacks/{pack}/stickers:batch-upload",
        {"stickers": [{"image": {"name": "a.png", "size_in_bytes": "10"}}]},
    ),
    (
        "batch complete",
        "post",
        "/stickerpacks/{pack}/stickers:batch-complete",
        {"batches": [{"sticker_id": "{sticker}"}]},
    ),
    ("rename sticker", "put", "/stickerpacks/{pack}/stickers/{sticker}", {"name": "x"}),
    ("delete sticker", "delete", "/stickerpacks/{pack}/stickers/{sticker}", None),
    ("delete pack", "delete", "/stickerpacks/{pack}", None),
]
# Completing a cover needs an upload; its permission is the others' (checked first).
COVER_COMPLETE = ("cover complete", "post", "/stickerpacks/{pack}:cover-complete", {})

ROOM_READ = [
    ("room packs", "get", "/chatrooms/stickerpacks", None),
    ("room pack", "get", "/chatrooms/stickerpacks/{pack}", None),
]
ROOM_ADMIN = [
    ("admin list GET", "get", "/chatrooms/stickerpacks:admin-list", None),
    ("admin list POST", "post", "/chatrooms/stickerpacks:admin-list", {}),
    ("enable pack", "put", "/chatrooms/stickerpacks/{pack}", {"enabled": True}),
]
TOKENS = ("sticker token", "post", "/stickerpacks/tokens", {})


def fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, ids) for item in value]
    return value


def call(client, operation, ids):
    _name, method, path, body = operation
    url = API + fill(path, ids)
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, fill(body, ids), format="json")


@pytest.fixture
def world(media, sticker_client, admin_token_client):
    pack, stickers = ready_pack(sticker_client)
    enable(admin_token_client, pack["id"])
    return {"pack": pack["id"], "sticker": stickers[0]["id"]}


@pytest.fixture
def clients(
    anon_client,
    api_key_client,
    sticker_client,
    admin_token_client,
    viewer_token_client,
    guest_token_client,
    other_room_admin_client,
):
    return {
        "none": anon_client,
        "api key": api_key_client,
        "sticker token": sticker_client,
        "admin": admin_token_client,
        "other room's admin": other_room_admin_client,
        "viewer": viewer_token_client,
        "guest": guest_token_client,
    }


MANAGE_EXPECTED = {
    "none": UNAUTHENTICATED,
    "api key": DENIED,
    "sticker token": OK,
    "admin": OK,
    "other room's admin": OK,
    "viewer": DENIED,
    "guest": DENIED,
}


@pytest.mark.parametrize("credential", list(MANAGE_EXPECTED))
@pytest.mark.parametrize("operation", [*MANAGE, COVER_COMPLETE], ids=lambda op: op[0])
def test_managing_packs(world, clients, credential, operation):
    response = call(clients[credential], operation, world)

    expected = MANAGE_EXPECTED[credential]
    if operation is COVER_COMPLETE and expected == OK:
        # Allowed, and refused only because nothing was uploaded.
        assert assert_status(response, 400, 3)["details"][-1]["reason"] == ("COVER_NOT_REGISTERED")
    elif expected == OK:
        assert response.status_code == OK, response.content
    else:
        assert_status(response, expected, {401: 16, 403: 7}[expected])


ROOM_READ_EXPECTED = {
    "none": UNAUTHENTICATED,
    "api key": DENIED,
    "sticker token": DENIED,
    "admin": OK,
    "other room's admin": OK,
    "viewer": OK,
    "guest": OK,
}
ROOM_ADMIN_EXPECTED = {**ROOM_READ_EXPECTED, "viewer": DENIED, "guest": DENIED}


@pytest.mark.parametrize("credential", list(ROOM_READ_EXPECTED))
@pytest.mark.parametrize("operation", [*ROOM_READ, *ROOM_ADMIN], ids=lambda op: op[0])
def test_room_side_operations(world, clients, credential, operation):
    response = call(clients[credential], operation, world)

    table = ROOM_READ_EXPECTED if operation in ROOM_READ else ROOM_ADMIN_EXPECTED
    expected = table[credential]
    if expected == OK:
        assert response.status_code == OK, response.content
    else:
        assert_status(response, expected, {401: 16, 403: 7}[expected])


def test_another_rooms_viewer_does_not_see_the_pack(world, make_token_client, system_actor):
    other = services.chatroom_create(actor=system_actor)
    viewer = make_token_client(other)

    assert viewer.get(f"{API}/chatrooms/stickerpacks").json() == {"sticker_packs": []}
    assert_status(viewer.get(f"{API}/chatrooms/stickerpacks/{world['pack']}"), 404, 5)


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        ("none", UNAUTHENTICATED),
        ("api key", OK),
        ("sticker token", DENIED),
        ("admin", DENIED),
        ("viewer", DENIED),
    ],
)
def test_minting_a_sticker_token(world, clients, credential, expected):
    response = call(clients[credential], TOKENS, world)

    if expected == OK:
        assert response.status_code == OK
    else:
        assert_status(response, expected, {401: 16, 403: 7}[expected])


def test_revoking_the_api_key_ends_its_sticker_tokens(media, api_key, sticker_client, system_actor):
    assert sticker_client.get(f"{API}/stickerpacks").status_code == 200

    services.api_key_revoke(actor=system_actor, api_key=api_key[0])

    body = assert_status(sticker_client.get(f"{API}/stickerpacks"), 401, 16)
    assert body["details"][-1]["reason"] == "TOKEN_REVOKED"


def test_an_expired_or_forged_sticker_token_is_unauthenticated(
    media, sticker_token, api_key_client, settings
):
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Bearer {sticker_token[:-4]}AAAA")
    assert_status(forged.get(f"{API}/stickerpacks"), 401, 16)

    settings.CHATROOM_STICKER_TOKEN_TTL = timedelta(seconds=-60)  # minted already expired
    token = api_key_client.post(f"{API}/stickerpacks/tokens", {}, format="json").json()["token"]
    expired = APIClient()
    expired.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = assert_status(expired.get(f"{API}/stickerpacks"), 401, 16)
    assert body["details"][-1]["reason"] == "TOKEN_EXPIRED"
