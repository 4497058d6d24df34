"""Chatroom tokens: minting (`POST /chatrooms/{id}/tokens`), refreshing
(`POST /chatrooms/tokens:refresh`) and what a token tells a client
(`GET /chatrooms/config`)."""

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from chatrooms import auth
from chatrooms.models import AuditAction, AuditLogEntry, Chatroom, ChatSession, RefreshToken, Role
from tests import factories
from tests.chatrooms.helpers import TIMESTAMP, assert_status, field_violations

pytestmark = pytest.mark.django_db

API = "/bv/chatroom/v1"
REFRESH_URL = f"{API}/chatrooms/tokens:refresh"
CONFIG_URL = f"{API}/chatrooms/config"
ROOM_URL = f"{API}/chatrooms"

TOKEN_FIELDS = {"token", "expires_in", "refresh_token", "refresh_expires_in"}
CLAIMS = {"sub", "chat_id", "device_id", "roles", "name", "exp", "iat", "jti"}


def mint(client, room, body=None):
    return client.post(f"{API}/chatrooms/{room.id}/tokens", body or {}, format="json")


def refresh(refresh_token, **body):
    return APIClient().post(REFRESH_URL, {"refresh_token": refresh_token, **body}, format="json")


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError):
        return False
    return True


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture
def lifetimes(settings):
    """Lifetimes unlike the defaults, so a test sees that they come from settings."""
    settings.CHATROOM_TOKEN_TTL = timedelta(hours=2)
    settings.CHATROOM_REFRESH_TOKEN_TTL = timedelta(days=3)
    return settings.CHATROOM_TOKEN_TTL, settings.CHATROOM_REFRESH_TOKEN_TTL


# --- Minting -------------------------------------------------------------------------------


def test_mint_answers_the_documented_fields_and_types(api_key_client, room):
    response = mint(api_key_client, room)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == TOKEN_FIELDS
    assert isinstance(body["token"], str) and body["token"]
    assert isinstance(body["refresh_token"], str) and body["refresh_token"]
    assert is_int(body["expires_in"])
    assert is_int(body["refresh_expires_in"])
    assert body["token"] != body["refresh_token"]


def test_lifetimes_come_from_settings(api_key_client, room, lifetimes):
    token_ttl, refresh_ttl = lifetimes

    body = mint(api_key_client, room).json()

    claims = claims_of(body["token"])
    assert token_ttl.total_seconds() - 1 <= body["expires_in"] <= token_ttl.total_seconds()
    assert body["refresh_expires_in"] == refresh_ttl.total_seconds()
    assert claims["exp"] - claims["iat"] == pytest.approx(token_ttl.total_seconds(), abs=1)
    row = RefreshToken.objects.get(token_hash=auth.hash_secret(body["refresh_token"]))
    assert row.expires_at - row.created_at == pytest.approx(refresh_ttl, abs=timedelta(seconds=1))


def test_the_token_carries_the_documented_claims(api_key_client, room, settings):
    body = {"role": Role.VIEWER, "subject": "user-42", "device_id": "phone-7", "name": "Vera"}

    claims = claims_of(mint(api_key_client, room, body).json()["token"])

    assert set(claims) >= CLAIMS
    assert claims["sub"] == "user-42"
    assert claims["chat_id"] == str(room.id)
    assert claims["device_id"] == "phone-7"
    assert claims["roles"] == [Role.VIEWER]
    assert claims["name"] == "Vera"
    assert is_int(claims["exp"]) and is_int(claims["iat"])
    assert claims["exp"] > claims["iat"]
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert claims["iss"] == settings.CHATROOM_TOKEN_ISSUER


@pytest.mark.parametrize("role", Role.values)
def test_roles_is_a_list_holding_the_role(api_key_client, room, role):
    claims = claims_of(mint(api_key_client, room, {"role": role}).json()["token"])

    assert claims["roles"] == [role]


def test_defaults_are_a_guest_with_generated_subject_and_device(api_key_client, room):
    claims = claims_of(mint(api_key_client, room).json()["token"])

    assert claims["roles"] == [Role.GUEST]
    assert is_uuid(claims["sub"])
    assert is_uuid(claims["device_id"])
    assert claims["sub"] != claims["device_id"]
    assert claims["name"] == "Guest"


def test_default_name_of_an_admin_is_admin(api_key_client, room):
    claims = claims_of(mint(api_key_client, room, {"role": Role.ADMIN}).json()["token"])

    assert claims["name"] == "Admin"


def test_blank_optional_fields_take_their_defaults(api_key_client, room):
    body = {"subject": "", "device_id": "", "name": ""}

    claims = claims_of(mint(api_key_client, room, body).json()["token"])

    assert is_uuid(claims["sub"])
    assert is_uuid(claims["device_id"])
    assert claims["name"] == "Guest"


def test_every_token_gets_its_own_identity(api_key_client, room):
    first = claims_of(mint(api_key_client, room).json()["token"])
    second = claims_of(mint(api_key_client, room).json()["token"])

    assert first["sub"] != second["sub"]
    assert first["device_id"] != second["device_id"]
    assert first["jti"] != second["jti"]


def test_token_is_signed_with_the_server_secret(api_key_client, room, settings):
    token = mint(api_key_client, room).json()["token"]

    assert jwt.get_unverified_header(token)["alg"] == auth.TOKEN_ALGORITHM
    jwt.decode(
        token,
        auth.token_secret(),
        algorithms=[auth.TOKEN_ALGORITHM],
        issuer=settings.CHATROOM_TOKEN_ISSUER,
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "some-other-secret" * 3, algorithms=[auth.TOKEN_ALGORITHM])


def test_configured_token_secret_signs_the_token(api_key_client, room, settings):
    settings.CHATROOM_TOKEN_SECRET = "configured-secret-" + "z" * 32

    token = mint(api_key_client, room).json()["token"]

    jwt.decode(token, settings.CHATROOM_TOKEN_SECRET, algorithms=[auth.TOKEN_ALGORITHM])
    assert bearer(token).get(ROOM_URL).status_code == 200


def test_minted_token_opens_the_room_it_names(api_key_client, room):
    token = mint(api_key_client, room).json()["token"]

    response = bearer(token).get(ROOM_URL)

    assert response.status_code == 200
    assert response.json()["chatroom"]["id"] == str(room.id)


@pytest.mark.parametrize(
    "role",
    ["ROLE_OWNER", "ROLE_VIWER ", "role_viwer", "role_admin", "ADMIN", "", 2, None, ["ROLE_ADMIN"]],
)
def test_invalid_role_is_400_naming_role(api_key_client, room, role):
    tokens_before = RefreshToken.objects.count()

    response = mint(api_key_client, room, {"role": role})

    body = assert_status(response, 400, 3)
    assert "role" in field_violations(body)
    assert RefreshToken.objects.count() == tokens_before


def test_the_ios_samples_misspelt_viewer_role_mints_a_viewer_token(api_key_client, room):
    """The iOS sample app shipped `"role": "ROLE_VIWER"`: read as ROLE_VIEWER."""
    body = {"role": "ROLE_VIWER", "subject": "ios-7", "device_id": "iphone-7", "name": "Ivy"}

    response = mint(api_key_client, room, body)

    assert response.status_code == 200, response.content
    token = response.json()["token"]
    assert claims_of(token)["roles"] == [Role.VIEWER]
    user = bearer(token).get(CONFIG_URL).json()["user"]
    assert (user["is_admin"], user["is_guest"]) == (False, False)
    assert ChatSession.objects.get(subject="ios-7").role == Role.VIEWER
    mint_audit = AuditLogEntry.objects.get(action=AuditAction.TOKEN_MINT, after__subject="ios-7")
    assert mint_audit.after["role"] == Role.VIEWER


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": 42}, "subject"),
        ({"subject": "s" * 129}, "subject"),
        ({"device_id": True}, "device_id"),
        ({"device_id": "d" * 129}, "device_id"),
        ({"name": 7}, "name"),
        ({"name": "n" * 129}, "name"),
        ({"expired_at": "tomorrow"}, "expired_at"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(api_key_client, room, body, field):
    response = mint(api_key_client, room, body)

    assert field in field_violations(assert_status(response, 400, 3))


def test_earlier_expired_at_shortens_the_token(api_key_client, room):
    expired_at = (timezone.now() + timedelta(minutes=10)).replace(microsecond=0)

    body = mint(api_key_client, room, {"expired_at": expired_at.isoformat()}).json()

    assert claims_of(body["token"])["exp"] == int(expired_at.timestamp())
    assert 598 <= body["expires_in"] <= 600


def test_later_expired_at_is_clamped_to_the_default_lifetime(api_key_client, room, lifetimes):
    token_ttl, _ = lifetimes
    expired_at = timezone.now() + token_ttl + timedelta(days=30)

    body = mint(api_key_client, room, {"expired_at": expired_at.isoformat()}).json()

    claims = claims_of(body["token"])
    assert claims["exp"] - claims["iat"] == pytest.approx(token_ttl.total_seconds(), abs=1)
    assert body["expires_in"] <= token_ttl.total_seconds()


def test_expired_at_in_the_past_mints_an_already_expired_token(api_key_client, room):
    expired_at = timezone.now() - timedelta(minutes=1)

    body = mint(api_key_client, room, {"expired_at": expired_at.isoformat()}).json()

    assert body["expires_in"] == 0
    assert_status(bearer(body["token"]).get(ROOM_URL), 401, 16)


# --- Refreshing ------------------------------------------------------------------------------


@pytest.fixture
def viewer_tokens(api_key_client, room):
    body = {"role": Role.VIEWER, "subject": "viewer-9", "device_id": "tablet-3", "name": "Nina"}
    return mint(api_key_client, room, body).json()


def test_refresh_returns_a_new_token_for_the_same_user(viewer_tokens, room):
    response = refresh(viewer_tokens["refresh_token"])

    assert response.status_code == 200
    body = response.json()
    assert set(body) == TOKEN_FIELDS
    assert body["token"] != viewer_tokens["token"]
    assert body["refresh_token"] != viewer_tokens["refresh_token"]
    old, new = claims_of(viewer_tokens["token"]), claims_of(body["token"])
    for claim in ("sub", "chat_id", "device_id", "roles", "name"):
        assert new[claim] == old[claim], claim
    assert new["jti"] != old["jti"]
    assert bearer(body["token"]).get(ROOM_URL).json()["chatroom"]["id"] == str(room.id)


def test_refreshed_role_is_kept(viewer_tokens):
    token = refresh(viewer_tokens["refresh_token"]).json()["token"]

    response = bearer(token).post(f"{API}/chatrooms:mute", {}, format="json")

    assert_status(response, 403, 7)


def test_refresh_lifetimes_come_from_settings(api_key_client, room, lifetimes):
    token_ttl, refresh_ttl = lifetimes
    minted = mint(api_key_client, room).json()

    body = refresh(minted["refresh_token"]).json()

    claims = claims_of(body["token"])
    assert claims["exp"] - claims["iat"] == pytest.approx(token_ttl.total_seconds(), abs=1)
    assert token_ttl.total_seconds() - 1 <= body["expires_in"] <= token_ttl.total_seconds()
    # What is left of the lifetime fixed at the mint (docs/api.md, "Revocation").
    assert refresh_ttl.total_seconds() - 2 <= body["refresh_expires_in"]
    assert body["refresh_expires_in"] <= refresh_ttl.total_seconds()


def test_refresh_with_earlier_expired_at_shortens_the_token(viewer_tokens):
    expired_at = (timezone.now() + timedelta(minutes=5)).replace(microsecond=0)

    body = refresh(viewer_tokens["refresh_token"], expired_at=expired_at.isoformat()).json()

    assert claims_of(body["token"])["exp"] == int(expired_at.timestamp())


def test_refresh_token_works_once(viewer_tokens):
    assert refresh(viewer_tokens["refresh_token"]).status_code == 200

    response = refresh(viewer_tokens["refresh_token"])

    assert_status(response, 401, 16)


def test_reusing_a_refresh_token_revokes_the_tokens_rotated_from_it(viewer_tokens):
    rotated = refresh(viewer_tokens["refresh_token"]).json()["refresh_token"]

    assert_status(refresh(viewer_tokens["refresh_token"]), 401, 16)

    assert_status(refresh(rotated), 401, 16)


def test_reuse_anywhere_in_the_chain_revokes_its_newest_token(viewer_tokens):
    second = refresh(viewer_tokens["refresh_token"]).json()["refresh_token"]
    third = refresh(second).json()["refresh_token"]

    assert_status(refresh(second), 401, 16)

    assert_status(refresh(third), 401, 16)


def test_revoking_a_family_spares_other_users(viewer_tokens, api_key_client, room):
    bystander = mint(api_key_client, room).json()["refresh_token"]
    refresh(viewer_tokens["refresh_token"])
    refresh(viewer_tokens["refresh_token"])  # reuse: the viewer's family is revoked

    assert refresh(bystander).status_code == 200


@pytest.mark.parametrize(
    "refresh_token",
    ["crr_" + "x" * 43, "not-a-refresh-token", "a"],
)
def test_unknown_refresh_token_is_401(viewer_tokens, refresh_token):
    assert_status(refresh(refresh_token), 401, 16)


def test_expired_refresh_token_is_401(viewer_tokens):
    # The clock cannot move forward in a test; the row's expiry moves back instead.
    RefreshToken.objects.filter(token_hash=auth.hash_secret(viewer_tokens["refresh_token"])).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert_status(refresh(viewer_tokens["refresh_token"]), 401, 16)


def test_refresh_token_of_a_deleted_room_is_401(api_key_client):
    doomed = factories.ChatroomFactory()
    refresh_token = mint(api_key_client, doomed).json()["refresh_token"]
    Chatroom.objects.filter(pk=doomed.pk).delete()

    assert_status(refresh(refresh_token), 401, 16)


@pytest.mark.parametrize(
    "body",
    [{}, {"refresh_token": ""}, {"refresh_token": 5}, {"refresh_token": None}],
)
def test_refresh_without_a_refresh_token_string_is_400(body):
    response = APIClient().post(REFRESH_URL, body, format="json")

    assert "refresh_token" in field_violations(assert_status(response, 400, 3))


def test_refresh_token_is_stored_only_as_its_hash(viewer_tokens):
    plaintext = viewer_tokens["refresh_token"]

    assert not RefreshToken.objects.filter(token_hash=plaintext).exists()
    row = RefreshToken.objects.get(token_hash=auth.hash_secret(plaintext))
    assert plaintext not in {str(value) for value in vars(row).values()}


def test_refreshed_token_carries_the_name_set_with_put_users(admin_token_client):
    response = admin_token_client.put(
        f"{API}/chatrooms/users", {"custom_name": "Evening host"}, format="json"
    )
    assert response.status_code == 200

    token = refresh(admin_token_client.issued.refresh_token).json()["token"]

    assert claims_of(token)["name"] == "Evening host"


# --- Config ----------------------------------------------------------------------------------


def test_config_has_the_documented_blocks(viewer_token_client):
    response = viewer_token_client.get(CONFIG_URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"connection", "topic", "user", "token"}
    assert set(body["connection"]) == {
        "endpoint",
        "authorizer",
        "token",
        "signature",
        "client_id",
        "url",  # our extension: where the broker's WebSocket is
    }
    assert set(body["topic"]) == {"pub", "sub"}
    assert set(body["user"]) == {"is_admin", "is_guest", "customer_id", "device_id", "custom_name"}
    assert set(body["token"]) == {"expired_at"}


def test_connection_comes_from_settings_and_the_token(viewer_token_client, settings):
    settings.CHATROOM_REALTIME_ENDPOINT = "mqtt.example.test"
    settings.CHATROOM_REALTIME_AUTHORIZER = "example-authorizer"
    token = viewer_token_client.issued.token

    connection = viewer_token_client.get(CONFIG_URL).json()["connection"]

    assert connection["endpoint"] == "mqtt.example.test"
    assert connection["authorizer"] == "example-authorizer"
    assert connection["token"] == token
    assert connection["signature"] == auth.realtime_signature(token)


def test_each_device_gets_its_own_client_id(room, make_token_client):
    phone = make_token_client(room, Role.VIEWER, subject="u1", device_id="phone")
    laptop = make_token_client(room, Role.VIEWER, subject="u1", device_id="laptop")

    ids = {c.get(CONFIG_URL).json()["connection"]["client_id"] for c in (phone, laptop)}

    assert len(ids) == 2
    assert all(ids)


def test_topics_come_from_settings_for_each_room(room, make_token_client, settings):
    settings.CHATROOM_TOPIC_SUB = "live/{room}/down"
    settings.CHATROOM_TOPIC_PUB = "live/{room}/up"
    other = factories.ChatroomFactory()

    topics = {}
    for each in (room, other):
        client = make_token_client(each, Role.VIEWER, device_id=f"device-{each.pk}")
        topics[each.pk] = client.get(CONFIG_URL).json()["topic"]

    for each in (room, other):
        assert topics[each.pk] == {
            "sub": f"live/{each.pk}/down",
            "pub": f"live/{each.pk}/up",
        }


@pytest.mark.parametrize("role", Role.values)
def test_user_block_describes_the_token_holder(room, make_token_client, role):
    client = make_token_client(room, role, subject="user-5", device_id="device-5", name="Kim")

    user = client.get(CONFIG_URL).json()["user"]

    assert user == {
        "is_admin": role == Role.ADMIN,
        "is_guest": role == Role.GUEST,
        "customer_id": "user-5",
        "device_id": "device-5",
        "custom_name": "Kim",
    }


def test_token_expired_at_matches_the_jwt_exp(viewer_token_client):
    exp = claims_of(viewer_token_client.issued.token)["exp"]

    expired_at = viewer_token_client.get(CONFIG_URL).json()["token"]["expired_at"]

    assert TIMESTAMP.match(expired_at)
    assert parse_timestamp(expired_at) == datetime.fromtimestamp(exp, tz=UTC)


def test_token_expired_at_shows_a_shortened_expiry(room, make_token_client):
    expired_at = (timezone.now() + timedelta(minutes=3)).replace(microsecond=0)
    client = make_token_client(room, Role.VIEWER, expired_at=expired_at)

    shown = client.get(CONFIG_URL).json()["token"]["expired_at"]

    assert parse_timestamp(shown) == expired_at
