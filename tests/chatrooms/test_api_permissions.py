"""The permission matrix of every `/bv/chatroom/v1` endpoint.

One table lists each operation with a valid body and the credential it needs;
every test runs over the rows it applies to:

* no credential, or a stale or forged chatroom token -> 401, code 16;
* the wrong kind of credential or a role below the one needed -> 403, code 7;
* another room's token acts on its own room only: whatever names a resource of
  the first room is not found (404, code 5) and the first room does not change;
* the right credential -> 200.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

import jwt
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from chatrooms import auth, services
from chatrooms.api import urls as api_urls
from chatrooms.auth import Actor
from chatrooms.models import (
    AuditLogEntry,
    BlockedUser,
    ChatMessage,
    Chatroom,
    CustomCounter,
    InteractionType,
    PinnedMessage,
    Poll,
    PollOption,
    PollStatus,
    PollType,
    RefreshToken,
    Report,
    ReportType,
    Role,
    RoomStickerPack,
    StickerPack,
)
from chatrooms.reports import links as report_links
from chatrooms.wordfilter import csvfiles
from chatrooms.wordfilter import services as wordfilter
from chatrooms.wordfilter.models import Dictionary, Pattern
from tests import factories
from tests.chatrooms import helpers
from tests.chatrooms.helpers import assert_status, field_violations

pytestmark = pytest.mark.django_db

API = "/bv/chatroom/v1"


class Credential(Enum):
    NONE = "no auth header"
    LINK = "a signed link (tests/chatrooms/test_reports.py)"
    API_KEY = "API key"
    TOKEN = "chatroom token, any role"
    ADMIN = "chatroom token with ROLE_ADMIN"
    API_KEY_OR_TOKEN = "API key (an extension) or chatroom token, any role"
    DICTIONARY = "dictionary token, or chatroom token with ROLE_ADMIN (of any room)"
    STICKERS = (
        "sticker token or admin chatroom token (tests/chatrooms/test_stickers_permissions.py)"
    )


@dataclass
class Scene:
    """A room with one of everything an endpoint can name."""

    room: Chatroom
    queued_poll: Poll
    active_poll: Poll
    message: ChatMessage
    pin: PinnedMessage
    block: BlockedUser
    refresh_token: str
    report: Report
    dictionary: Dictionary
    pattern: Pattern
    pack: StickerPack | None = None  # enabled in the room

    def ids(self) -> dict:
        return {
            "dictionary": self.dictionary.id,
            "pattern": self.pattern.id,
            "dictionary_link": csvfiles.sign(self.dictionary.id),
            "pack": self.pack.id if self.pack else None,
            "room": self.room.id,
            "report": self.report.id,
            "report_token": report_links.sign(self.report.id),
            "queued_poll": self.queued_poll.id,
            "active_poll": self.active_poll.id,
            "message": self.message.id,
        }


@pytest.fixture
def scene(room, system_actor):
    return Scene(
        room=room,
        queued_poll=factories.PollFactory(room=room),
        active_poll=factories.PollFactory(
            room=room, status=PollStatus.ACTIVE, started_at=timezone.now()
        ),
        message=factories.ChatMessageFactory(room=room),
        pin=factories.PinnedMessageFactory(room=room),
        block=factories.BlockedUserFactory(room=room),
        refresh_token=auth.chatroom_token_issue(room=room, role=Role.VIEWER).refresh_token,
        report=Report.objects.create(room=room, type=ReportType.CHAT_HISTORIES, file_name="r"),
        dictionary=(dictionary := wordfilter.dictionary_create(actor=system_actor, name="Spam")),
        pattern=wordfilter.pattern_create(actor=system_actor, dictionary=dictionary, text="spam"),
        pack=RoomStickerPack.objects.create(
            room=room, pack=StickerPack.objects.create(name="Pack")
        ).pack,
    )


ACTION_TAKER = {"custom_name": "Host"}


def vote_body(scene: Scene) -> dict:
    poll = scene.active_poll
    return helpers.vote_body(poll.id, poll.type, poll.options.all()[0].id)


def poll_edit_body(scene: Scene) -> dict:
    options = scene.queued_poll.options.all()
    return {
        "poll": {
            "type": PollType.MULTI_CHOICE,
            "multi_choice": {
                "question": "Edited?",
                "options": [{"id": str(o.id), "text": o.text, "corrected": False} for o in options],
            },
        }
    }


@dataclass(frozen=True)
class Endpoint:
    method: str
    route: str  # under /bv/chatroom/v1; {room}, {queued_poll}, ... are filled from the scene
    credential: Credential
    body: Callable[[Scene], dict] | None = None
    # With another room's admin token: 404 when the operation names a resource of the
    # first room, 200 when it acts on the caller's own room.
    other_room_status: int | None = None
    answers_empty: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.route}"

    def path(self, scene: Scene) -> str:
        return API + self.route.format(**scene.ids())

    def call(self, client: APIClient, scene: Scene, **extra):
        send = getattr(client, self.method.lower())
        if self.body is None:
            return send(self.path(scene), **extra)
        return send(self.path(scene), self.body(scene), format="json", **extra)


ENDPOINTS = [
    # API key
    Endpoint("POST", "/chatrooms", Credential.API_KEY, lambda s: {}),
    Endpoint(
        "POST",
        "/chatrooms/{room}:change-status",
        Credential.API_KEY,
        lambda s: {"action": "ACTION_ACTIVE"},
        answers_empty=True,
    ),
    Endpoint(
        "PUT",
        "/chatrooms/{room}/custom-counters",
        Credential.API_KEY,
        lambda s: {"custom_counters": [{"key": "like"}, {"key": "clap"}]},
        answers_empty=True,
    ),
    Endpoint(
        "POST", "/chatrooms/{room}/tokens", Credential.API_KEY, lambda s: {"role": Role.VIEWER}
    ),
    Endpoint(
        "POST",
        "/chatrooms/{room}/reports",
        Credential.API_KEY,
        lambda s: {"type": ReportType.POLL_VOTES},
    ),
    Endpoint("GET", "/chatrooms/{room}/reports/{report}", Credential.API_KEY),
    # The signed link is the credential (its own matrix: tests/chatrooms/test_reports.py).
    Endpoint(
        "GET", "/chatrooms/{room}/reports/{report}:download?token={report_token}", Credential.LINK
    ),
    # Extensions BlendVision's own client calls (issue 12)
    Endpoint("GET", "/chatrooms/{room}", Credential.API_KEY),
    Endpoint(
        "POST",
        "/chatrooms/{room}/messages",
        Credential.API_KEY,
        lambda s: {"message": "hi", "userId": "u1"},
    ),
    # Stickers (reference 2.3): a sticker token or an admin chatroom token, their own
    # matrix in tests/chatrooms/test_stickers_permissions.py; the sticker token is minted
    # with the API key; the upload URL's signature is the credential.
    Endpoint("POST", "/stickerpacks/tokens", Credential.API_KEY, lambda s: {}),
    *[
        Endpoint(method, route, Credential.STICKERS)
        for method, route in [
            ("GET", "/stickerpacks"),
            ("POST", "/stickerpacks"),
            ("GET", "/stickerpacks/{pack}"),
            ("PUT", "/stickerpacks/{pack}"),
            ("DELETE", "/stickerpacks/{pack}"),
            ("POST", "/stickerpacks/{pack}:cover-upload"),
            ("POST", "/stickerpacks/{pack}:cover-complete"),
            ("GET", "/stickerpacks/{pack}/stickers"),
            ("POST", "/stickerpacks/{pack}/stickers:batch-upload"),
            ("POST", "/stickerpacks/{pack}/stickers:batch-complete"),
            ("PUT", "/stickerpacks/{pack}/stickers/{pack}"),
            ("DELETE", "/stickerpacks/{pack}/stickers/{pack}"),
        ]
    ],
    Endpoint("PUT", "/sticker-uploads/{pack}?token=x", Credential.LINK),
    # No auth header
    Endpoint(
        "POST",
        "/chatrooms/tokens:refresh",
        Credential.NONE,
        lambda s: {"refresh_token": s.refresh_token},
    ),
    # An API key lists the rooms; a chatroom token (any role) reads its own
    Endpoint("GET", "/chatrooms", Credential.API_KEY_OR_TOKEN, other_room_status=200),
    # Chatroom token, any role
    Endpoint("GET", "/chatrooms/config", Credential.TOKEN, other_room_status=200),
    Endpoint("GET", "/chatrooms/messages", Credential.TOKEN, other_room_status=200),
    Endpoint(
        "POST",
        "/chatrooms/messages",
        Credential.TOKEN,
        lambda s: {"type": InteractionType.TEXT, "text_message": {"text": "hello"}},
        other_room_status=200,
    ),
    Endpoint("GET", "/chatrooms/polls", Credential.TOKEN, other_room_status=200),
    Endpoint("GET", "/chatrooms/slow-mode", Credential.TOKEN, other_room_status=200),
    Endpoint("GET", "/chatrooms/lockdown", Credential.TOKEN, other_room_status=200),
    Endpoint(
        "POST",
        "/chatrooms/polls/{active_poll}:vote",
        Credential.TOKEN,
        vote_body,
        other_room_status=404,
        answers_empty=True,
    ),
    # Stickers in the room: the token's room's packs (an admin may read any pack).
    Endpoint("GET", "/chatrooms/stickerpacks", Credential.TOKEN, other_room_status=200),
    Endpoint("GET", "/chatrooms/stickerpacks/{pack}", Credential.TOKEN, other_room_status=200),
    # Chatroom token with ROLE_ADMIN
    Endpoint("GET", "/chatrooms/stickerpacks:admin-list", Credential.ADMIN, other_room_status=200),
    Endpoint(
        "POST",
        "/chatrooms/stickerpacks:admin-list",
        Credential.ADMIN,
        lambda s: {},
        other_room_status=200,
    ),
    Endpoint(
        "PUT",
        "/chatrooms/stickerpacks/{pack}",
        Credential.ADMIN,
        lambda s: {"enabled": True},
        other_room_status=200,
        answers_empty=True,
    ),
    Endpoint(
        "POST",
        "/chatrooms:mute",
        Credential.ADMIN,
        lambda s: {"action_taker": ACTION_TAKER},
        other_room_status=200,
        answers_empty=True,
    ),
    Endpoint(
        "POST",
        "/chatrooms:unmute",
        Credential.ADMIN,
        lambda s: {"action_taker": ACTION_TAKER},
        other_room_status=200,
        answers_empty=True,
    ),
    Endpoint(
        "PUT",
        "/chatrooms/viewer-infos",
        Credential.ADMIN,
        lambda s: {"viewer_info": {"enabled": True}, "action_taker": ACTION_TAKER},
        other_room_status=200,
        answers_empty=True,
    ),
    Endpoint(
        "PUT",
        "/chatrooms/slow-mode",
        Credential.ADMIN,
        lambda s: {"slow_mode": {"seconds": 30}, "action_taker": ACTION_TAKER},
        other_room_status=200,
    ),
    Endpoint(
        "PUT",
        "/chatrooms/lockdown",
        Credential.ADMIN,
        lambda s: {"lockdown": {"active": True}, "action_taker": ACTION_TAKER},
        other_room_status=200,
    ),
    Endpoint(
        "PUT",
        "/chatrooms/users",
        Credential.TOKEN,  # any role renames itself (the reference says admin)
        lambda s: {"custom_name": "Renamed"},
        other_room_status=200,
        answers_empty=True,
    ),
    Endpoint(
        "POST",
        "/chatrooms/users:block",
        Credential.ADMIN,
        lambda s: {
            "blocked_user": {
                "id": "troll-1",
                "device_id": "troll-device",
                "custom_name": "Troll",
                "action_taker": ACTION_TAKER,
            }
        },
        other_room_status=200,
        answers_empty=True,
    ),
    Endpoint(
        "POST",
        "/chatrooms/users:unblock",
        Credential.ADMIN,
        lambda s: {"unblocked_user": {"id": s.block.user_id, "action_taker": ACTION_TAKER}},
        other_room_status=404,
        answers_empty=True,
    ),
    Endpoint(
        "POST",
        "/chatrooms/messages:pin",
        Credential.ADMIN,
        lambda s: {
            "pinned_message": {
                "message": {
                    "id": str(s.message.id),
                    "text": s.message.text,
                    "sender": {
                        "id": s.message.user_id,
                        "device_id": s.message.user_device_id,
                        "custom_name": s.message.user_custom_name,
                    },
                },
                "action_taker": ACTION_TAKER,
            }
        },
        other_room_status=200,
        answers_empty=True,
    ),
    Endpoint(
        "POST",
        "/chatrooms/messages:unpin",
        Credential.ADMIN,
        lambda s: {
            "unpinned_message": {"message": {"id": s.pin.message_id}, "action_taker": ACTION_TAKER}
        },
        other_room_status=404,
        answers_empty=True,
    ),
    Endpoint(
        "DELETE",
        "/chatrooms/messages/{message}",
        Credential.ADMIN,
        other_room_status=404,
        answers_empty=True,
    ),
    Endpoint(
        "POST",
        "/chatrooms/polls",
        Credential.ADMIN,
        lambda s: {
            "poll": {
                "type": PollType.SINGLE_CHOICE,
                "multi_choice": {
                    "question": "Tea or coffee?",
                    "options": [
                        {"text": "Tea", "corrected": False},
                        {"text": "Coffee", "corrected": False},
                    ],
                },
            }
        },
        other_room_status=200,
    ),
    Endpoint("GET", "/chatrooms/polls/{queued_poll}", Credential.ADMIN, other_room_status=404),
    Endpoint(
        "PUT",
        "/chatrooms/polls/{queued_poll}",
        Credential.ADMIN,
        poll_edit_body,
        other_room_status=404,
    ),
    Endpoint(
        "DELETE",
        "/chatrooms/polls/{queued_poll}",
        Credential.ADMIN,
        other_room_status=404,
        answers_empty=True,
    ),
    Endpoint(
        "POST",
        "/chatrooms/polls/{active_poll}:change",
        Credential.ADMIN,
        lambda s: {"action": "ACTION_CLOSE", "action_taker": ACTION_TAKER},
        other_room_status=404,
        answers_empty=True,
    ),
    # The word filter (issue 11): the room's dictionaries ...
    Endpoint("GET", "/chatrooms/dictionaries", Credential.TOKEN, other_room_status=200),
    Endpoint(
        "POST",
        "/chatrooms/dictionaries:batch-update",
        Credential.ADMIN,  # upstream says "chatroom token"; admin here (docs/api.md)
        lambda s: {"ids": [str(s.dictionary.id)], "enabled": True},
        other_room_status=200,
    ),
    Endpoint(
        "POST",
        "/chatrooms/dictionaries/{dictionary}:enable",
        Credential.ADMIN,
        lambda s: {},
        other_room_status=200,
        answers_empty=True,
    ),
    Endpoint(
        "POST",
        "/chatrooms/dictionaries/{dictionary}:disable",
        Credential.ADMIN,
        lambda s: {},
        other_room_status=200,
        answers_empty=True,
    ),
    # ... the organisation's dictionaries and patterns ...
    Endpoint("POST", "/dictionaries/tokens", Credential.API_KEY, lambda s: {}),
    Endpoint("GET", "/dictionaries", Credential.DICTIONARY, other_room_status=200),
    Endpoint(
        "POST",
        "/dictionaries",
        Credential.DICTIONARY,
        lambda s: {"name": "New"},
        other_room_status=200,
    ),
    Endpoint("GET", "/dictionaries/{dictionary}", Credential.DICTIONARY, other_room_status=200),
    Endpoint(
        "PUT",
        "/dictionaries/{dictionary}",
        Credential.DICTIONARY,
        lambda s: {"description": "changed"},
        other_room_status=200,
    ),
    Endpoint(
        "DELETE",
        "/dictionaries/{dictionary}",
        Credential.DICTIONARY,
        other_room_status=200,
        answers_empty=True,
    ),
    Endpoint(
        "GET", "/dictionaries/{dictionary}/patterns", Credential.DICTIONARY, other_room_status=200
    ),
    Endpoint(
        "POST",
        "/dictionaries/{dictionary}/patterns",
        Credential.DICTIONARY,
        lambda s: {"text": "hello"},
        other_room_status=200,
    ),
    Endpoint(
        "POST",
        "/dictionaries/{dictionary}/patterns:batch-create",
        Credential.DICTIONARY,
        lambda s: {"texts": ["one", "two"]},
        other_room_status=200,
    ),
    Endpoint(
        "POST",
        "/dictionaries/{dictionary}/patterns:download",
        Credential.DICTIONARY,
        lambda s: {},
        other_room_status=200,
    ),
    Endpoint(
        "POST",
        "/dictionaries/{dictionary}/patterns:upload",
        Credential.DICTIONARY,
        lambda s: {"content_type": "text/csv", "data": "b25lCnR3bwo="},
        other_room_status=200,
        answers_empty=True,
    ),
    Endpoint(
        "PUT",
        "/patterns/{pattern}",
        Credential.DICTIONARY,
        lambda s: {"text": "renamed"},
        other_room_status=200,
    ),
    Endpoint(
        "DELETE",
        "/patterns/{pattern}",
        Credential.DICTIONARY,
        other_room_status=200,
        answers_empty=True,
    ),
    # ... and the file behind :download's signed link (tests/chatrooms/test_word_filter_api.py).
    Endpoint(
        "GET", "/dictionaries/{dictionary}/patterns.csv?token={dictionary_link}", Credential.LINK
    ),
]


def endpoints(*credentials: Credential) -> list:
    return [
        pytest.param(endpoint, id=str(endpoint))
        for endpoint in ENDPOINTS
        if endpoint.credential in credentials
    ]


AUTHENTICATED = (
    Credential.API_KEY,
    Credential.TOKEN,
    Credential.ADMIN,
    Credential.API_KEY_OR_TOKEN,
    Credential.DICTIONARY,
)
# Endpoints an API key may not call but a chatroom token may (the word filter's take a
# dictionary token too), and those a chatroom token may call.
TOKEN_ENDPOINTS = (Credential.TOKEN, Credential.ADMIN, Credential.DICTIONARY)
TOKEN_ACCEPTED = (*TOKEN_ENDPOINTS, Credential.API_KEY_OR_TOKEN)
API_KEY_ACCEPTED = (Credential.API_KEY, Credential.API_KEY_OR_TOKEN)


def room_snapshot(room: Chatroom) -> dict:
    """Everything an operation could change in a room, for before/after comparisons."""
    return {
        "room": Chatroom.objects.filter(pk=room.pk).values().get(),
        "blocks": list(BlockedUser.objects.filter(room=room).order_by("pk").values()),
        "pins": list(PinnedMessage.objects.filter(room=room).order_by("pk").values()),
        "polls": list(Poll.objects.filter(room=room).order_by("pk").values()),
        "options": list(PollOption.objects.filter(poll__room=room).order_by("pk").values()),
        "counters": list(CustomCounter.objects.filter(room=room).order_by("pk").values()),
        "messages": list(ChatMessage.objects.filter(room=room).order_by("pk").values()),
        "refresh_tokens": list(RefreshToken.objects.filter(room=room).order_by("pk").values()),
        "audit": AuditLogEntry.objects.filter(room=room).count(),
    }


# --- Forged and stale tokens ------------------------------------------------------------


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def resign(token: str, *, secret: str | None = None, **changes) -> str:
    """The token's claims with `changes`, signed as the server signs (or with `secret`)."""
    payload = {**claims_of(token), **changes}
    return jwt.encode(payload, secret or auth.token_secret(), algorithm=auth.TOKEN_ALGORITHM)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def expired(token: str) -> str:
    now = int(timezone.now().timestamp())
    return resign(token, iat=now - 3600, exp=now - 60)


def signature_altered(token: str) -> str:
    header, payload, signature = token.split(".")
    # A character in the middle: the last one may only carry padding bits.
    middle = len(signature) // 2
    replacement = "A" if signature[middle] != "A" else "B"
    return f"{header}.{payload}.{signature[:middle]}{replacement}{signature[middle + 1 :]}"


def signed_with_another_secret(token: str) -> str:
    return resign(token, secret="not-the-server-secret-" + "x" * 32)


def unsigned(token: str) -> str:
    """`alg: none`, the classic JWT forgery."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims_of(token)).encode())
    return f"{header}.{payload}."


def role_raised_to_admin(token: str) -> str:
    """The payload rewritten to ROLE_ADMIN, the original signature kept."""
    header, _payload, signature = token.split(".")
    payload = {**claims_of(token), "roles": [Role.ADMIN]}
    return f"{header}.{b64url(json.dumps(payload).encode())}.{signature}"


def for_unknown_room(token: str) -> str:
    return resign(token, chat_id=str(uuid.uuid4()))


FORGERIES = {
    "expired": expired,
    "signature-altered": signature_altered,
    "another-secret": signed_with_another_secret,
    "alg-none": unsigned,
    "role-claim-raised": role_raised_to_admin,
    "unknown-room": for_unknown_room,
}


def bearer(credential: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
    return client


# --- The table covers the URLconf ----------------------------------------------------------


def normalised(route: str) -> str:
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", route.lstrip("/").split("?")[0])


def test_the_matrix_lists_every_operation_of_the_urlconf():
    routed = set()
    for pattern in api_urls.urlpatterns:
        view = pattern.callback.view_class
        for method in view.http_method_names:
            if method not in ("options", "head") and hasattr(view, method):
                routed.add((method.upper(), normalised(str(pattern.pattern))))

    tabled = {(e.method, normalised(e.route)) for e in ENDPOINTS}

    assert tabled == routed
    assert len(ENDPOINTS) == len(tabled)


# --- 401 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", endpoints(*AUTHENTICATED))
def test_no_credentials_is_401(endpoint, scene, anon_client):
    response = endpoint.call(anon_client, scene)

    assert_status(response, 401, 16)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
@pytest.mark.parametrize("endpoint", endpoints(*AUTHENTICATED))
def test_stale_or_forged_token_is_401(endpoint, forge, scene, make_token_client):
    # An admin token would pass every chatroom-token endpoint: only the forgery stops it.
    # Raising a role needs a lower one to start from.
    role = Role.VIEWER if forge is role_raised_to_admin else Role.ADMIN
    token = make_token_client(scene.room, role).issued.token

    response = endpoint.call(bearer(forge(token)), scene)

    assert_status(response, 401, 16)


@pytest.mark.parametrize("endpoint", endpoints(*AUTHENTICATED))
def test_token_of_a_deleted_room_is_401(endpoint, scene, make_token_client):
    doomed = factories.ChatroomFactory()
    token = make_token_client(doomed, Role.ADMIN).issued.token
    Chatroom.objects.filter(pk=doomed.pk).delete()

    response = endpoint.call(bearer(token), scene)

    assert_status(response, 401, 16)


@pytest.mark.parametrize("endpoint", endpoints(*TOKEN_ACCEPTED))
def test_resigned_token_without_changes_is_accepted(endpoint, scene, make_token_client):
    """The control for the forgeries above: re-signing alone does not make a token fail."""
    token = make_token_client(scene.room, Role.ADMIN).issued.token

    response = endpoint.call(bearer(resign(token)), scene)

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"iss": "someone-else"}, id="foreign-issuer"),
        pytest.param({"type": "refresh"}, id="not-a-chatroom-token"),
        pytest.param({"roles": ["ROLE_OWNER"]}, id="unknown-role"),
        pytest.param({"roles": []}, id="no-role"),
        pytest.param({"roles": Role.ADMIN}, id="roles-not-a-list"),
        pytest.param({"chat_id": "not-a-uuid"}, id="chat-id-not-a-uuid"),
        pytest.param({"exp": None}, id="no-expiry"),
        pytest.param({"jti": None}, id="no-jti"),
        pytest.param({"sub": None}, id="no-subject"),
    ],
)
def test_correctly_signed_token_with_bad_claims_is_401(changes, scene, admin_token_client):
    payload = claims_of(admin_token_client.issued.token)
    payload.update(changes)
    payload = {key: value for key, value in payload.items() if value is not None}
    token = jwt.encode(payload, auth.token_secret(), algorithm=auth.TOKEN_ALGORITHM)

    response = bearer(token).get(f"{API}/chatrooms")

    assert_status(response, 401, 16)


def test_token_signed_with_the_old_secret_is_401_after_rotation(
    scene, admin_token_client, settings
):
    settings.CHATROOM_TOKEN_SECRET = "rotated-secret-" + "y" * 32

    response = admin_token_client.get(f"{API}/chatrooms")

    assert_status(response, 401, 16)


@pytest.mark.parametrize("endpoint", endpoints(*API_KEY_ACCEPTED))
def test_revoked_api_key_is_401(endpoint, scene, api_key, api_key_client):
    services.api_key_revoke(actor=Actor.system("tests"), api_key=api_key[0])

    response = endpoint.call(api_key_client, scene)

    assert_status(response, 401, 16)


# --- 403 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", endpoints(*TOKEN_ENDPOINTS))
def test_api_key_on_a_chatroom_token_endpoint_is_403(endpoint, scene, api_key_client):
    before = room_snapshot(scene.room)

    response = endpoint.call(api_key_client, scene)

    assert_status(response, 403, 7)
    assert room_snapshot(scene.room) == before


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("endpoint", endpoints(Credential.API_KEY))
def test_chatroom_token_on_an_api_key_endpoint_is_403(endpoint, role, scene, make_token_client):
    client = make_token_client(scene.room, role)
    before = room_snapshot(scene.room)

    response = endpoint.call(client, scene)

    assert_status(response, 403, 7)
    assert room_snapshot(scene.room) == before
    assert Chatroom.objects.count() == 1


@pytest.mark.parametrize("role", [Role.GUEST, Role.VIEWER])
@pytest.mark.parametrize("endpoint", endpoints(Credential.ADMIN, Credential.DICTIONARY))
def test_guest_and_viewer_on_an_admin_endpoint_are_403(endpoint, role, scene, make_token_client):
    client = make_token_client(scene.room, role)
    before = room_snapshot(scene.room)

    response = endpoint.call(client, scene)

    assert_status(response, 403, 7)
    assert room_snapshot(scene.room) == before


# --- 2xx ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", endpoints(*TOKEN_ACCEPTED))
def test_admin_token_is_allowed(endpoint, scene, admin_token_client):
    response = endpoint.call(admin_token_client, scene)

    assert response.status_code == 200, response.content
    if endpoint.answers_empty:
        assert response.json() == {}


@pytest.mark.parametrize("role", [Role.GUEST, Role.VIEWER])
@pytest.mark.parametrize("endpoint", endpoints(Credential.TOKEN, Credential.API_KEY_OR_TOKEN))
def test_guest_and_viewer_are_allowed_on_any_role_endpoints(
    endpoint, role, scene, make_token_client
):
    response = endpoint.call(make_token_client(scene.room, role), scene)

    assert response.status_code == 200, response.content
    if endpoint.answers_empty:
        assert response.json() == {}


@pytest.mark.parametrize("endpoint", endpoints(Credential.DICTIONARY))
def test_dictionary_token_is_allowed(endpoint, scene, api_key):
    from chatrooms.wordfilter import tokens

    token, _ = tokens.dictionary_token_issue(api_key=api_key[0])
    response = endpoint.call(bearer(token), scene)

    assert response.status_code == 200, response.content
    if endpoint.answers_empty:
        assert response.json() == {}


@pytest.mark.parametrize(
    "endpoint",
    [
        param
        for param in endpoints(Credential.TOKEN, Credential.ADMIN)
        if "/dictionaries" in param.values[0].route
    ],
)
def test_dictionary_token_on_a_room_endpoint_is_403(endpoint, scene, api_key):
    """The room's side of the word filter knows the dictionary token and refuses it (the
    older room operations do not read it at all: 401, an invalid chatroom token)."""
    from chatrooms.wordfilter import tokens

    token, _ = tokens.dictionary_token_issue(api_key=api_key[0])
    before = room_snapshot(scene.room)

    response = endpoint.call(bearer(token), scene)

    assert_status(response, 403, 7)
    assert room_snapshot(scene.room) == before


@pytest.mark.parametrize("endpoint", endpoints(*API_KEY_ACCEPTED))
def test_api_key_is_allowed(endpoint, scene, api_key_client):
    response = endpoint.call(api_key_client, scene)

    assert response.status_code == 200, response.content
    if endpoint.answers_empty:
        assert response.json() == {}


@pytest.mark.parametrize("endpoint", endpoints(Credential.NONE))
def test_refresh_needs_no_authorization_header(endpoint, scene, anon_client):
    response = endpoint.call(anon_client, scene)

    assert response.status_code == 200, response.content
    assert response.json()["token"]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("expired", id="expired-token"),
        pytest.param("api-key", id="api-key"),
        pytest.param("Bearer not-a-token", id="garbage-bearer"),
        pytest.param("Basic dXNlcjpwYXNz", id="other-scheme"),
    ],
)
@pytest.mark.parametrize("endpoint", endpoints(Credential.NONE))
def test_refresh_ignores_whatever_authorization_header_is_sent(
    endpoint, header, scene, api_key, make_token_client
):
    """A client refreshes because its token expired; sending that token along is harmless."""
    if header == "expired":
        header = f"Bearer {expired(make_token_client(scene.room).issued.token)}"
    elif header == "api-key":
        header = f"Bearer {api_key[1]}"

    response = endpoint.call(APIClient(), scene, HTTP_AUTHORIZATION=header)

    assert response.status_code == 200, response.content


# --- Another room's token -----------------------------------------------------------------


@pytest.mark.parametrize("endpoint", endpoints(*TOKEN_ACCEPTED))
def test_another_rooms_token_acts_on_its_own_room_only(endpoint, scene, other_room_admin_client):
    # The same person also holds a token for the first room: nothing may match by user alone.
    claims = other_room_admin_client.claims
    auth.chatroom_token_issue(
        room=scene.room, role=Role.ADMIN, subject=claims.subject, device_id=claims.device_id
    )
    before = room_snapshot(scene.room)

    response = endpoint.call(other_room_admin_client, scene)

    if endpoint.other_room_status == 404:
        assert_status(response, 404, 5)
    else:
        assert response.status_code == endpoint.other_room_status, response.content
    assert room_snapshot(scene.room) == before


def test_another_rooms_token_reads_its_own_room(scene, other_room_admin_client):
    other_room_id = str(other_room_admin_client.claims.chat_id)

    chat = other_room_admin_client.get(f"{API}/chatrooms").json()["chatroom"]
    messages = other_room_admin_client.get(f"{API}/chatrooms/messages").json()["messages"]
    polls = other_room_admin_client.get(f"{API}/chatrooms/polls").json()["polls"]
    config = other_room_admin_client.get(f"{API}/chatrooms/config").json()

    assert chat["id"] == other_room_id
    assert chat["blocked_users"] == []
    assert chat["pinned_messages"] == []
    assert chat["active_poll"] is None
    assert messages == []
    assert polls == []
    assert str(scene.room.id) not in json.dumps(config)
    assert other_room_id in config["topic"]["sub"]


# --- Ids in the path -----------------------------------------------------------------------


ROOM_ID_ENDPOINTS = [
    e for e in ENDPOINTS if "{room}" in e.route and e.credential is Credential.API_KEY
]
RESOURCE_ID_ENDPOINTS = [
    e for e in ENDPOINTS if "{queued_poll}" in e.route or "{active_poll}" in e.route
] + [e for e in ENDPOINTS if "{message}" in e.route]


def with_ids(endpoint: Endpoint, scene: Scene, value: str) -> str:
    return API + re.sub(r"\{[^}]+\}", value, endpoint.route).format(**scene.ids())


@pytest.mark.parametrize("endpoint", [pytest.param(e, id=str(e)) for e in ROOM_ID_ENDPOINTS])
def test_api_key_endpoint_with_an_unknown_room_is_404(endpoint, scene, api_key_client):
    """API keys are not bound to a room: another room is one the id does not name."""
    before = room_snapshot(scene.room)

    response = resource_call(api_key_client, endpoint, scene, str(uuid.uuid4()))

    body = assert_status(response, 404, 5)
    assert body["details"][-1]["reason"] == "CHATROOM_NOT_FOUND"
    assert room_snapshot(scene.room) == before


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "%20"])
@pytest.mark.parametrize("endpoint", [pytest.param(e, id=str(e)) for e in ROOM_ID_ENDPOINTS])
def test_api_key_endpoint_with_a_malformed_room_id_is_400(endpoint, bad_id, scene, api_key_client):
    response = resource_call(api_key_client, endpoint, scene, bad_id)

    body = assert_status(response, 400, 3)
    assert "id" in field_violations(body)


def resource_call(client, endpoint: Endpoint, scene: Scene, value: str):
    path = with_ids(endpoint, scene, value)
    send = getattr(client, endpoint.method.lower())
    if endpoint.body is None:
        return send(path)
    return send(path, endpoint.body(scene), format="json")


@pytest.mark.parametrize("endpoint", [pytest.param(e, id=str(e)) for e in RESOURCE_ID_ENDPOINTS])
def test_unknown_poll_or_message_id_is_404(endpoint, scene, admin_token_client):
    before = room_snapshot(scene.room)

    response = resource_call(admin_token_client, endpoint, scene, str(uuid.uuid4()))

    assert_status(response, 404, 5)
    assert room_snapshot(scene.room) == before


@pytest.mark.parametrize("endpoint", [pytest.param(e, id=str(e)) for e in RESOURCE_ID_ENDPOINTS])
def test_malformed_poll_or_message_id_is_400(endpoint, scene, admin_token_client):
    response = resource_call(admin_token_client, endpoint, scene, "not-a-uuid")

    body = assert_status(response, 400, 3)
    assert "id" in field_violations(body)


def test_expired_token_was_valid_until_it_expired(scene, make_token_client):
    """The `expired` forgery differs from a working token only in its times."""
    token = make_token_client(scene.room, Role.ADMIN).issued.token
    later = int((timezone.now() + timedelta(minutes=5)).timestamp())

    assert bearer(resign(token, exp=later)).get(f"{API}/chatrooms").status_code == 200
    assert_status(bearer(expired(token)).get(f"{API}/chatrooms"), 401, 16)
