"""Revoking chatroom tokens (issue 9, finding 1): sessions, API key revocation, refresh
reuse, signing keys with ids, and the revocation check on every request."""

import socket
from datetime import timedelta

import jwt
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from chatrooms import auth, services
from chatrooms.auth import Actor
from chatrooms.errors import Unauthenticated
from chatrooms.models import (
    AuditAction,
    AuditLogEntry,
    Chatroom,
    ChatSession,
    RefreshToken,
    Role,
    SessionRevocation,
)
from chatrooms.realtime import credentials
from config.settings import parse_token_keys
from tests import factories
from tests.chatrooms.helpers import assert_status

pytestmark = pytest.mark.django_db

API = "/bv/chatroom/v1"
ROOM_URL = f"{API}/chatrooms"
REFRESH_URL = f"{API}/chatrooms/tokens:refresh"
CONFIG_URL = f"{API}/chatrooms/config"
KEY_A = "a" * 40
KEY_B = "b" * 40


def mint(client, room, **body):
    response = client.post(f"{API}/chatrooms/{room.id}/tokens", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def refresh(refresh_token):
    return APIClient().post(REFRESH_URL, {"refresh_token": refresh_token}, format="json")


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def reason_of(response) -> str:
    return response.json()["details"][0]["reason"]


def session_of(token: str) -> ChatSession:
    return ChatSession.objects.get(pk=jwt.decode(token, options={"verify_signature": False})["sid"])


def works(token: str) -> bool:
    return bearer(token).get(ROOM_URL).status_code == 200


def refused_as_revoked(token: str) -> bool:
    response = bearer(token).get(ROOM_URL)
    return response.status_code == 401 and reason_of(response) == "TOKEN_REVOKED"


def use_keys(settings, keys: dict, signer: str) -> None:
    settings.CHATROOM_TOKEN_KEYS = keys
    settings.CHATROOM_TOKEN_SIGNING_KEY_ID = signer


# --- Sessions -------------------------------------------------------------------------


def test_every_mint_is_a_session_named_by_the_token(api_key, api_key_client, room):
    body = mint(api_key_client, room, role=Role.ADMIN, subject="host", device_id="d1", name="H")

    header = jwt.get_unverified_header(body["token"])
    session = session_of(body["token"])
    assert header["kid"] == session.key_id == auth.signing_key()[0]
    assert (session.room_id, session.subject, session.device_id, session.name, session.role) == (
        room.pk,
        "host",
        "d1",
        "H",
        Role.ADMIN,
    )
    assert session.api_key == api_key[0]
    assert session.minted_by is None
    row = RefreshToken.objects.get(token_hash=auth.hash_secret(body["refresh_token"]))
    assert row.session == session
    assert row.expires_at == session.expires_at


def test_a_mint_is_audited_with_the_key_that_minted_it(api_key, api_key_client, room):
    body = mint(api_key_client, room, role=Role.ADMIN, subject="host")

    entry = AuditLogEntry.objects.get(action=AuditAction.TOKEN_MINT)
    assert entry.room_id == room.pk
    assert entry.actor_id == f"api_key:{api_key[0].prefix}"
    assert entry.after["role"] == Role.ADMIN
    assert entry.after["subject"] == "host"
    assert entry.after["session"] == str(session_of(body["token"]).pk)
    assert entry.after["api_key"] == api_key[0].prefix


def test_a_console_mint_records_the_staff_user(room, superuser):
    issued = auth.chatroom_token_issue(
        room=room, role=Role.ADMIN, refreshable=False, actor=Actor.staff(superuser)
    )

    assert issued.session.minted_by == superuser
    assert issued.session.api_key is None
    assert not issued.session.refreshable
    assert issued.session.expires_at == issued.claims.expires_at
    entry = AuditLogEntry.objects.get(action=AuditAction.TOKEN_MINT)
    assert entry.actor_user == superuser
    assert entry.after["staff_user"] == superuser.pk


def test_refreshing_never_extends_the_session(api_key_client, room):
    """Finding 1: every refresh restarted the refresh token's 30 days."""
    first = mint(api_key_client, room)
    fixed = session_of(first["token"]).expires_at

    second = refresh(first["refresh_token"]).json()
    third = refresh(second["refresh_token"]).json()

    row = RefreshToken.objects.get(token_hash=auth.hash_secret(third["refresh_token"]))
    assert row.expires_at == fixed
    assert session_of(third["token"]).expires_at == fixed


def test_refresh_ends_with_the_session(api_key_client, room):
    body = mint(api_key_client, room)
    # The clock cannot move forward in a test; the session's expiry moves back instead.
    ChatSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = refresh(body["refresh_token"])

    assert_status(response, 401, 16)
    assert reason_of(response) == "REFRESH_TOKEN_EXPIRED"


def test_no_token_outlives_its_session(api_key_client, room, settings):
    # A refresh lifetime shorter than the token's: the token is cut to the session's end.
    settings.CHATROOM_REFRESH_TOKEN_TTL = timedelta(minutes=5)

    body = mint(api_key_client, room)

    assert body["expires_in"] <= 300
    assert body["refresh_expires_in"] <= 300


# --- (a) Revoking an API key ----------------------------------------------------------


def test_revoking_an_api_key_ends_every_session_it_minted(
    api_key, api_key_client, room, system_actor
):
    """Finding 1: a refresh token minted with a revoked key still refreshed."""
    admin = mint(api_key_client, room, role=Role.ADMIN)
    other_room = factories.ChatroomFactory()
    viewer = mint(api_key_client, other_room, role=Role.VIEWER)
    _, other_plaintext = services.api_key_create(actor=system_actor, name="other")
    bystander = mint(bearer(other_plaintext), room, role=Role.VIEWER)

    services.api_key_revoke(actor=system_actor, api_key=api_key[0])

    for body in (admin, viewer):
        assert refused_as_revoked(body["token"])
        response = refresh(body["refresh_token"])
        assert_status(response, 401, 16)
        assert reason_of(response) == "REFRESH_TOKEN_REVOKED"
    assert works(bystander["token"])
    assert refresh(bystander["refresh_token"]).status_code == 200
    revoked = ChatSession.objects.filter(api_key=api_key[0])
    assert {s.revoked_reason for s in revoked} == {SessionRevocation.API_KEY_REVOKED}
    entry = AuditLogEntry.objects.get(action=AuditAction.API_KEY_REVOKE)
    assert entry.after == {"sessions_revoked": 2}


def test_a_token_refreshed_before_the_key_was_revoked_dies_with_it(
    api_key, api_key_client, room, system_actor
):
    body = refresh(mint(api_key_client, room)["refresh_token"]).json()

    services.api_key_revoke(actor=system_actor, api_key=api_key[0])

    assert refused_as_revoked(body["token"])
    assert_status(refresh(body["refresh_token"]), 401, 16)


# --- (b) Signing keys -----------------------------------------------------------------


def test_changing_the_token_secret_retires_what_the_old_one_signed(api_key_client, room, settings):
    """Finding 1: after CHATROOM_TOKEN_SECRET was rotated, an old refresh token still
    gave a working admin token."""
    settings.CHATROOM_TOKEN_SECRET = KEY_A
    body = mint(api_key_client, room, role=Role.ADMIN)

    settings.CHATROOM_TOKEN_SECRET = KEY_B

    assert_status(bearer(body["token"]).get(ROOM_URL), 401, 16)
    response = refresh(body["refresh_token"])
    assert_status(response, 401, 16)
    assert reason_of(response) == "REFRESH_TOKEN_REVOKED"


def test_rotation_keeps_sessions_and_moves_them_to_the_new_key(api_key_client, room, settings):
    use_keys(settings, {"k1": KEY_A}, "k1")
    body = mint(api_key_client, room)
    assert jwt.get_unverified_header(body["token"])["kid"] == "k1"

    use_keys(settings, {"k1": KEY_A, "k2": KEY_B}, "k2")  # add k2 and sign with it

    assert works(body["token"])
    refreshed = refresh(body["refresh_token"]).json()
    assert jwt.get_unverified_header(refreshed["token"])["kid"] == "k2"
    jwt.decode(refreshed["token"], KEY_B, algorithms=[auth.TOKEN_ALGORITHM], issuer="chatroom")
    assert session_of(refreshed["token"]).key_id == "k2"

    use_keys(settings, {"k2": KEY_B}, "k2")  # retire k1

    assert works(refreshed["token"])
    assert refresh(refreshed["refresh_token"]).status_code == 200


def test_retiring_a_key_ends_everything_it_signed(api_key_client, room, settings):
    use_keys(settings, {"k1": KEY_A}, "k1")
    body = mint(api_key_client, room, role=Role.ADMIN)
    client_id = bearer(body["token"]).get(CONFIG_URL).json()["connection"]["client_id"]
    use_keys(settings, {"k1": KEY_A, "k2": KEY_B}, "k2")

    use_keys(settings, {"k2": KEY_B}, "k2")  # the session never refreshed onto k2

    assert_status(bearer(body["token"]).get(ROOM_URL), 401, 16)
    assert_status(refresh(body["refresh_token"]), 401, 16)
    with pytest.raises(Unauthenticated):
        auth.chatroom_token_verify(client_id, token_type=auth.CLIENT_ID_TYPE)


def test_the_default_key_can_be_kept_while_a_new_one_signs(api_key_client, room, settings):
    body = mint(api_key_client, room)

    use_keys(settings, {"default": None, "k2": KEY_B}, "k2")

    assert works(body["token"])
    refreshed = refresh(body["refresh_token"]).json()
    assert jwt.get_unverified_header(refreshed["token"])["kid"] == "k2"


def test_a_token_without_a_session_is_refused(admin_token_client):
    payload = jwt.decode(admin_token_client.issued.token, options={"verify_signature": False})
    del payload["sid"]
    legacy = jwt.encode(payload, auth.token_secret(), algorithm=auth.TOKEN_ALGORITHM)

    assert_status(bearer(legacy).get(ROOM_URL), 401, 16)


@pytest.mark.parametrize(
    ("keys", "signer"),
    [
        ("k1:short", None),  # a secret under 32 characters
        (f"k1:{KEY_A},k2:{KEY_B}", None),  # several keys, no signer named
        (f"k1:{KEY_A}", "k2"),  # the signer is not a key
        (f"k1:{KEY_A},k1:{KEY_B}", "k1"),  # an id twice
        (f"k1:{KEY_A},k2:{KEY_A}", "k1"),  # a secret twice
        (f"bad id:{KEY_A}", None),
        (f"default-1:{KEY_A}", None),  # reserved for the default key's derived id
        (f"k1:{KEY_A},k2", "k1"),  # only "default" may be bare
        (None, "k1"),  # a signer without keys
    ],
)
def test_malformed_key_settings_are_a_start_up_error(keys, signer):
    with pytest.raises(ImproperlyConfigured):
        parse_token_keys(keys, signer)


def test_key_settings_parse():
    assert parse_token_keys(None, None) == ({"default": None}, "default")
    assert parse_token_keys(f"default, k2:{KEY_B}", "k2") == (
        {"default": None, "k2": KEY_B},
        "k2",
    )
    assert parse_token_keys(f"k1:{KEY_A}", None) == ({"k1": KEY_A}, "k1")


# --- (c) Refresh token reuse ----------------------------------------------------------


def test_reuse_revokes_the_access_tokens_of_the_session_too(api_key_client, room):
    """Finding 1: after REFRESH_TOKEN_REUSED the access token already issued from the
    stolen refresh token kept working."""
    minted = mint(api_key_client, room, role=Role.ADMIN, subject="host")
    stolen = refresh(minted["refresh_token"]).json()  # the thief refreshes first

    response = refresh(minted["refresh_token"])  # the owner's copy: reuse

    assert_status(response, 401, 16)
    assert reason_of(response) == "REFRESH_TOKEN_REUSED"
    assert refused_as_revoked(stolen["token"])
    assert refused_as_revoked(minted["token"])
    assert_status(refresh(stolen["refresh_token"]), 401, 16)
    session = session_of(minted["token"])
    assert session.revoked_reason == SessionRevocation.REFRESH_REUSED
    entry = AuditLogEntry.objects.get(action=AuditAction.TOKEN_REUSE)
    assert entry.target_id == str(session.pk)
    assert entry.room_id == room.pk


def test_reuse_spares_the_users_other_sessions(api_key_client, room):
    phone = mint(api_key_client, room, subject="u1", device_id="phone")
    laptop = mint(api_key_client, room, subject="u1", device_id="laptop")
    refresh(phone["refresh_token"])

    refresh(phone["refresh_token"])

    assert works(laptop["token"])


# --- (d) Staff revoke sessions --------------------------------------------------------


def test_ending_a_users_sessions(api_key_client, room, system_actor):
    first = mint(api_key_client, room, subject="troll", device_id="a")
    second = mint(api_key_client, room, subject="troll", device_id="b")
    other = mint(api_key_client, room, subject="fan")
    elsewhere = mint(api_key_client, factories.ChatroomFactory(), subject="troll")

    ended = services.user_sessions_revoke(
        actor=system_actor, room=room, user_id="troll", reason="spam"
    )

    assert ended == 2
    for body in (first, second):
        assert refused_as_revoked(body["token"])
        assert_status(refresh(body["refresh_token"]), 401, 16)
    assert works(other["token"])
    assert works(elsewhere["token"])
    entry = AuditLogEntry.objects.get(action=AuditAction.SESSIONS_REVOKE)
    assert (entry.target_type, entry.target_id, entry.reason) == ("user", "troll", "spam")
    assert entry.after == {"sessions_revoked": 2}


def test_ending_all_sessions_of_a_room(api_key_client, room, system_actor):
    viewer = mint(api_key_client, room)
    admin = mint(api_key_client, room, role=Role.ADMIN)
    client_id = bearer(viewer["token"]).get(CONFIG_URL).json()["connection"]["client_id"]
    elsewhere = mint(api_key_client, factories.ChatroomFactory())

    assert services.room_sessions_revoke(actor=system_actor, room=room) == 2

    for body in (viewer, admin):
        assert refused_as_revoked(body["token"])
        assert_status(refresh(body["refresh_token"]), 401, 16)
    with pytest.raises(Unauthenticated):
        auth.chatroom_token_verify(client_id, token_type=auth.CLIENT_ID_TYPE)
    assert works(elsewhere["token"])
    entry = AuditLogEntry.objects.get(action=AuditAction.SESSIONS_REVOKE)
    assert (entry.target_type, entry.target_id) == ("chatroom", str(room.pk))


def test_a_session_minted_after_a_room_wide_revocation_works(api_key_client, room, system_actor):
    services.room_sessions_revoke(actor=system_actor, room=room)
    # Tokens carry whole seconds: one minted within the same second counts as revoked.
    # The clock cannot move forward in a test; the revocation moves back instead.
    Chatroom.objects.filter(pk=room.pk).update(
        sessions_revoked_before=timezone.now() - timedelta(seconds=2)
    )

    assert works(mint(api_key_client, room)["token"])


def test_a_user_revoked_after_a_room_wide_revocation_is_still_refused(
    api_key_client, room, system_actor
):
    services.room_sessions_revoke(actor=system_actor, room=room)
    Chatroom.objects.filter(pk=room.pk).update(
        sessions_revoked_before=timezone.now() - timedelta(seconds=2)
    )
    body = mint(api_key_client, room, subject="late")

    services.user_sessions_revoke(actor=system_actor, room=room, user_id="late")

    assert refused_as_revoked(body["token"])


def test_ending_one_session(api_key_client, room, system_actor):
    body = mint(api_key_client, room)
    session = session_of(body["token"])

    assert services.session_revoke(actor=system_actor, session=session)
    assert not services.session_revoke(actor=system_actor, session=session)

    assert refused_as_revoked(body["token"])
    assert AuditLogEntry.objects.filter(action=AuditAction.SESSIONS_REVOKE).count() == 1


def test_revoked_sessions_are_refused_at_connect(api_key_client, room, system_actor):
    body = mint(api_key_client, room, subject="vera")
    client_id = bearer(body["token"]).get(CONFIG_URL).json()["connection"]["client_id"]
    assert credentials.connection_authorize(username="x", password=body["token"], client_id="")

    services.user_sessions_revoke(actor=system_actor, room=room, user_id="vera")

    for attempt in (
        {"username": "x", "password": body["token"], "client_id": ""},
        {"username": "", "password": "", "client_id": client_id},
    ):
        with pytest.raises(Unauthenticated):
            credentials.connection_authorize(**attempt)


# --- The check on every request -------------------------------------------------------


def test_a_room_that_never_revoked_anything_costs_no_query(
    viewer_token_client, django_assert_num_queries
):
    with django_assert_num_queries(1):  # the token's room
        auth.chatroom_token_verify(viewer_token_client.issued.token)


def test_the_revoked_set_is_one_query_then_cached(
    api_key_client, room, system_actor, django_assert_num_queries
):
    body = mint(api_key_client, room, subject="fan")
    mint(api_key_client, room, subject="somebody-else")
    services.user_sessions_revoke(actor=system_actor, room=room, user_id="somebody-else")
    auth.chatroom_token_verify(body["token"])  # warms the cache

    with django_assert_num_queries(1):  # the token's room; the revoked set is cached
        auth.chatroom_token_verify(body["token"])


def test_a_revocation_is_seen_at_once_by_a_process_with_a_warm_cache(
    api_key_client, room, system_actor
):
    body = mint(api_key_client, room, subject="fan")
    mint(api_key_client, room, subject="somebody-else")
    services.user_sessions_revoke(actor=system_actor, room=room, user_id="somebody-else")
    assert works(body["token"])  # the set without "fan" is now cached

    services.user_sessions_revoke(actor=system_actor, room=room, user_id="fan")

    assert refused_as_revoked(body["token"])


def test_a_cache_outage_never_lets_a_revoked_token_through(
    api_key_client, room, system_actor, django_assert_num_queries
):
    body = mint(api_key_client, room, subject="fan")
    services.user_sessions_revoke(actor=system_actor, room=room, user_id="fan")
    # A Redis that is down (nothing listens on the port).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    down = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed}",
        }
    }

    with override_settings(CACHES=down), django_assert_num_queries(2):
        # 1 the token's room; 2 its revoked sessions (the cache cannot answer)
        response = bearer(body["token"]).get(ROOM_URL)

    assert_status(response, 401, 16)
    assert reason_of(response) == "TOKEN_REVOKED"


def test_the_revocation_check_counts_its_query(
    api_key_client, room, system_actor, django_assert_num_queries
):
    body = mint(api_key_client, room, subject="fan")
    mint(api_key_client, room, subject="somebody-else")
    services.user_sessions_revoke(actor=system_actor, room=room, user_id="somebody-else")

    with CaptureQueriesContext(connection) as cold:
        auth.chatroom_token_verify(body["token"])

    # 1 the token's room; 2 the room's revoked sessions (cache miss)
    assert len(cold.captured_queries) == 2
    assert "chatrooms_chatsession" in cold.captured_queries[1]["sql"]


def test_a_mint_with_a_key_revoked_meanwhile_leaves_no_session(api_key, room, system_actor):
    stale = api_key[0]  # authenticated before the revocation below
    services.api_key_revoke(actor=system_actor, api_key=api_key[0])

    with pytest.raises(Unauthenticated):
        auth.chatroom_token_issue(room=room, api_key=stale)

    assert not ChatSession.objects.exists()
