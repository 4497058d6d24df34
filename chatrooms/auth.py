"""Credentials: organisation API keys and chatroom tokens.

Both travel as ``Authorization: Bearer <credential>``. API keys look like
``crk_<prefix>_<secret>``; anything else is read as a chatroom token, a JWT
(HS256) naming one room, one user and device, and a role. Refresh tokens are
opaque, stored hashed, and rotate on every use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import jwt
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from chatrooms import caching
from chatrooms.errors import PermissionDenied, ResourceExhausted, Unauthenticated
from chatrooms.models import ActorKind, ApiKey, AuditSource, Chatroom, RefreshToken, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

API_KEY_SCHEME = "crk"
PREFIX_LENGTH = 8
# last_used_at is a convenience for staff, not an access log: write it at most
# once a minute per key so that a busy key does not turn every request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Actor:
    """Who performs an action, from whichever credential they used."""

    kind: ActorKind
    source: AuditSource
    id: str = ""
    name: str = ""
    device_id: str = ""
    is_admin: bool = False
    is_guest: bool = False
    user: AbstractBaseUser | None = None

    @classmethod
    def staff(cls, user, *, source: AuditSource = AuditSource.CONSOLE) -> Actor:
        return cls(
            kind=ActorKind.STAFF,
            source=source,
            id=f"staff:{user.pk}",
            name=user.get_username(),
            is_admin=True,
            user=user,
        )

    @classmethod
    def for_api_key(cls, api_key: ApiKey) -> Actor:
        return cls(
            kind=ActorKind.API_KEY,
            source=AuditSource.API,
            id=f"api_key:{api_key.prefix}",
            name=api_key.name,
            is_admin=True,
        )

    @classmethod
    def for_token(cls, claims: TokenClaims) -> Actor:
        return cls(
            kind=ActorKind.CHATROOM_TOKEN,
            source=AuditSource.API,
            id=claims.subject,
            name=claims.name,
            device_id=claims.device_id,
            is_admin=claims.is_admin,
            is_guest=claims.is_guest,
        )

    def with_name(self, custom_name: str | None) -> Actor:
        """The same actor under the display name a request supplied."""
        return replace(self, name=custom_name) if custom_name else self

    @classmethod
    def system(cls, name: str = "system", *, source: AuditSource = AuditSource.COMMAND) -> Actor:
        return cls(kind=ActorKind.SYSTEM, source=source, id=name, name=name, is_admin=True)


@dataclass(frozen=True)
class NewApiKey:
    prefix: str
    secret_hash: str
    plaintext: str


def hash_secret(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_api_key() -> NewApiKey:
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    plaintext = f"{API_KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(prefix=prefix, secret_hash=hash_secret(plaintext), plaintext=plaintext)


def api_key_authenticate(plaintext: str) -> ApiKey:
    """Return the active key for a presented credential, or raise Unauthenticated.

    The row is found by its public prefix and the secret checked with a
    constant-time comparison of the hashes.
    """
    scheme, _, rest = plaintext.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != API_KEY_SCHEME or len(prefix) != PREFIX_LENGTH or not secret:
        raise Unauthenticated("The API key is malformed.", reason="API_KEY_MALFORMED")
    api_key = ApiKey.objects.filter(prefix=prefix).first()
    presented = hash_secret(plaintext)
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, presented):
        raise Unauthenticated("The API key is not recognised.", reason="API_KEY_UNKNOWN")
    if api_key.revoked_at is not None:
        raise Unauthenticated("The API key has been revoked.", reason="API_KEY_REVOKED")
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


@dataclass(frozen=True)
class ApiKeyPrincipal:
    api_key: ApiKey
    is_authenticated = True

    def actor(self) -> Actor:
        return Actor.for_api_key(self.api_key)


def bearer_credential(request) -> str | None:
    header = get_authorization_header(request).split()
    if not header:
        return None
    if header[0].lower() != b"bearer" or len(header) != 2:
        raise Unauthenticated(
            "The authorization header must be 'Bearer <credential>'.",
            reason="AUTHORIZATION_MALFORMED",
        )
    try:
        return header[1].decode("ascii")
    except UnicodeDecodeError:
        raise Unauthenticated(
            "The credential is malformed.", reason="AUTHORIZATION_MALFORMED"
        ) from None


# --- Chatroom tokens ---------------------------------------------------------------

TOKEN_ALGORITHM = "HS256"
TOKEN_TYPE = "chatroom"


def token_secret() -> str:
    if settings.CHATROOM_TOKEN_SECRET:
        return settings.CHATROOM_TOKEN_SECRET
    return hmac.new(settings.SECRET_KEY.encode(), b"chatroom-token", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    chat_id: uuid.UUID
    device_id: str
    name: str
    role: Role
    expires_at: datetime
    jti: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_guest(self) -> bool:
        return self.role == Role.GUEST


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    claims: TokenClaims


def _encode(
    *, room_id, subject: str, device_id: str, name: str, role: Role, expires_at: datetime
) -> tuple[str, TokenClaims]:
    now = timezone.now()
    claims = TokenClaims(
        subject=subject,
        chat_id=room_id,
        device_id=device_id,
        name=name,
        role=role,
        expires_at=expires_at,
        jti=uuid.uuid4().hex,
    )
    payload = {
        "iss": settings.CHATROOM_TOKEN_ISSUER,
        "type": TOKEN_TYPE,
        "tenant_id": settings.CHATROOM_TENANT_ID,
        "sub": subject,
        "chat_id": str(room_id),
        "device_id": device_id,
        "name": name,
        "roles": [role],
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": claims.jti,
    }
    return jwt.encode(payload, token_secret(), algorithm=TOKEN_ALGORITHM), claims


def _new_refresh_token(*, room_id, subject, device_id, name, role, family=None) -> tuple[str, int]:
    plaintext = "crr_" + secrets.token_urlsafe(32)
    ttl = settings.CHATROOM_REFRESH_TOKEN_TTL
    RefreshToken.objects.create(
        token_hash=hash_secret(plaintext),
        family=family or uuid.uuid4(),
        room_id=room_id,
        subject=subject,
        device_id=device_id,
        name=name,
        role=role,
        expires_at=timezone.now() + ttl,
    )
    return plaintext, int(ttl.total_seconds())


def _token_expiry(requested: datetime | None) -> datetime:
    """The default lifetime, or a shorter one a client asked for (SDKs send
    `expired_at` to test expiry); never longer than the default."""
    default = timezone.now() + settings.CHATROOM_TOKEN_TTL
    if requested is None or requested > default:
        return default
    return requested


@transaction.atomic
def chatroom_token_issue(
    *,
    room: Chatroom,
    role: Role = Role.GUEST,
    subject: str = "",
    device_id: str = "",
    name: str = "",
    expired_at: datetime | None = None,
    refreshable: bool = True,
) -> IssuedToken:
    """Mint a token and a refresh token for one user of one room. ``refreshable=False``
    mints no refresh token (short-lived credentials the server re-issues itself, such
    as the console's realtime token)."""
    subject = subject or str(uuid.uuid4())
    device_id = device_id or str(uuid.uuid4())
    name = name or ("Admin" if role == Role.ADMIN else "Guest")
    expires_at = _token_expiry(expired_at)
    token, claims = _encode(
        room_id=room.pk,
        subject=subject,
        device_id=device_id,
        name=name,
        role=role,
        expires_at=expires_at,
    )
    refresh, refresh_ttl = "", 0
    if refreshable:
        refresh, refresh_ttl = _new_refresh_token(
            room_id=room.pk, subject=subject, device_id=device_id, name=name, role=role
        )
    return IssuedToken(
        token=token,
        expires_in=max(0, int((expires_at - timezone.now()).total_seconds())),
        refresh_token=refresh,
        refresh_expires_in=refresh_ttl,
        claims=claims,
    )


def chatroom_token_refresh(
    *, refresh_token: str, expired_at: datetime | None = None
) -> IssuedToken:
    """Exchange a refresh token for a new token and a new refresh token.

    A refresh token works once. Presenting a used one again revokes its whole
    family, so a stolen copy dies as soon as either party uses it twice.
    """
    with transaction.atomic():
        row = (
            RefreshToken.objects.select_for_update()
            .filter(token_hash=hash_secret(refresh_token))
            .first()
        )
        now = timezone.now()
        reused = row is not None and row.used_at is not None
        if reused:
            # Committed before the error is raised: the revocation must stick.
            RefreshToken.objects.filter(family=row.family, revoked_at__isnull=True).update(
                revoked_at=now
            )
        else:
            return _rotate(row, now=now, expired_at=expired_at)
    raise Unauthenticated(
        "The refresh token was already used; its whole family is now revoked.",
        reason="REFRESH_TOKEN_REUSED",
    )


def _rotate(row: RefreshToken | None, *, now: datetime, expired_at: datetime | None) -> IssuedToken:
    if row is None:
        raise Unauthenticated(
            "The refresh token is not recognised.", reason="REFRESH_TOKEN_UNKNOWN"
        )
    if row.revoked_at is not None:
        raise Unauthenticated("The refresh token has been revoked.", reason="REFRESH_TOKEN_REVOKED")
    if row.expires_at <= now:
        raise Unauthenticated("The refresh token has expired.", reason="REFRESH_TOKEN_EXPIRED")
    if not Chatroom.objects.filter(pk=row.room_id).exists():
        raise Unauthenticated("The chatroom no longer exists.", reason="CHATROOM_GONE")
    row.used_at = now
    row.save(update_fields=["used_at"])
    expires_at = _token_expiry(expired_at)
    role = Role(row.role)
    token, claims = _encode(
        room_id=row.room_id,
        subject=row.subject,
        device_id=row.device_id,
        name=row.name,
        role=role,
        expires_at=expires_at,
    )
    refresh, refresh_ttl = _new_refresh_token(
        room_id=row.room_id,
        subject=row.subject,
        device_id=row.device_id,
        name=row.name,
        role=role,
        family=row.family,
    )
    return IssuedToken(
        token=token,
        expires_in=max(0, int((expires_at - now).total_seconds())),
        refresh_token=refresh,
        refresh_expires_in=refresh_ttl,
        claims=claims,
    )


def chatroom_token_verify(
    token: str, *, token_type: str = TOKEN_TYPE
) -> tuple[TokenClaims, Chatroom]:
    """Check a token's signature, expiry and room; return its claims and the room.

    ``token_type`` is the ``type`` claim required: chatroom tokens, or the signed
    MQTT client ids that GET /chatrooms/config issues (``realtime_client_id``).
    """
    try:
        payload = jwt.decode(
            token,
            token_secret(),
            algorithms=[TOKEN_ALGORITHM],
            issuer=settings.CHATROOM_TOKEN_ISSUER,
            options={"require": ["exp", "iat", "sub", "chat_id", "roles", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The chatroom token has expired.", reason="TOKEN_EXPIRED") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("The chatroom token is invalid.", reason="TOKEN_INVALID") from None
    try:
        roles = payload["roles"]
        role = Role(roles[0]) if isinstance(roles, list) and roles else None
        chat_id = uuid.UUID(payload["chat_id"])
        if payload.get("type") != token_type or role is None:
            raise ValueError
    except (ValueError, TypeError, KeyError):
        raise Unauthenticated("The chatroom token is invalid.", reason="TOKEN_INVALID") from None
    try:
        room = Chatroom.objects.get(pk=chat_id)
    except Chatroom.DoesNotExist:
        room = None
    if room is None:
        raise Unauthenticated("The chatroom of this token does not exist.", reason="CHATROOM_GONE")
    claims = TokenClaims(
        subject=str(payload["sub"]),
        chat_id=chat_id,
        device_id=str(payload.get("device_id", "")),
        name=str(payload.get("name", "")),
        role=role,
        expires_at=datetime.fromtimestamp(payload["exp"], tz=UTC),
        jti=str(payload["jti"]),
    )
    return claims, room


CLIENT_ID_TYPE = "mqtt-client"


def realtime_client_id(claims: TokenClaims) -> str:
    """An MQTT client id that is itself a credential: the token's claims, signed, as a
    JWT of another type. For clients whose token travels only in the WebSocket URL,
    which the broker cannot read (docs/realtime.md)."""
    payload = {
        "iss": settings.CHATROOM_TOKEN_ISSUER,
        "type": CLIENT_ID_TYPE,
        "sub": claims.subject,
        "chat_id": str(claims.chat_id),
        "device_id": claims.device_id,
        "name": claims.name,
        "roles": [claims.role],
        "iat": int(timezone.now().timestamp()),
        "exp": int(claims.expires_at.timestamp()),
        "jti": claims.jti,
    }
    return jwt.encode(payload, token_secret(), algorithm=TOKEN_ALGORITHM)


def realtime_signature(token: str) -> str:
    """What a broker's custom authorizer can check the token against."""
    digest = hmac.new(token_secret().encode(), token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class ChatroomPrincipal:
    claims: TokenClaims
    room: Chatroom
    is_authenticated = True

    def actor(self) -> Actor:
        return Actor.for_token(self.claims)


# --- Brute force -------------------------------------------------------------------


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or behind our TLS proxy the address that
    proxy appended last to X-Forwarded-For (earlier entries are client-supplied)."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def _failure_key(address: str) -> str:
    return "chatrooms:auth-failures:" + hashlib.sha256(address.encode()).hexdigest()[:32]


@contextmanager
def counting_auth_failures(request):
    """Count this attempt if its credential fails. Past the limit within the window, a
    failure is answered 429 (with Retry-After) instead of 401, so guessing slows down;
    a valid credential from the same address (another user behind the same NAT) still
    works. Credentials are long random secrets or signed tokens: the limit is there to
    push back on floods, not to make guessing possible to stop."""
    key = _failure_key(client_address(request))
    window = settings.CHATROOM_AUTH_FAILURE_WINDOW_SECONDS
    try:
        yield
    except Unauthenticated:
        if caching.count(key, window) > settings.CHATROOM_AUTH_FAILURE_LIMIT:
            raise ResourceExhausted(
                "Too many failed authentication attempts; try again later.",
                reason="AUTH_RATE_LIMITED",
                metadata={"retry_after_seconds": str(window)},
            ) from None
        raise


class BearerAuthentication(BaseAuthentication):
    """Recognises either credential; the view's permission says which it needs."""

    def authenticate(self, request):
        with counting_auth_failures(request):
            credential = bearer_credential(request)
            if credential is None:
                return None
            if credential.startswith(API_KEY_SCHEME + "_"):
                principal = ApiKeyPrincipal(api_key_authenticate(credential))
            else:
                principal = ChatroomPrincipal(*chatroom_token_verify(credential))
        return principal, principal

    def authenticate_header(self, request):
        return "Bearer"


class _RequiresCredential(BasePermission):
    """No credential is 401; the other kind of credential is 403."""

    principal_class: type
    needed = ""
    other = ""
    reason = ""

    def has_permission(self, request, view):
        if request.auth is None:
            raise Unauthenticated(
                f"This operation needs {self.needed}: 'Authorization: Bearer <credential>'.",
                reason=self.reason,
            )
        if not isinstance(request.auth, self.principal_class):
            raise PermissionDenied(
                f"This operation needs {self.needed}, not {self.other}.", reason=self.reason
            )
        return True


class HasApiKey(_RequiresCredential):
    """The organisation API key (upstream "API token")."""

    principal_class = ApiKeyPrincipal
    needed, other, reason = "an API key", "a chatroom token", "API_KEY_REQUIRED"


class HasChatroomToken(_RequiresCredential):
    """A chatroom token with any role; the token names the room."""

    principal_class = ChatroomPrincipal
    needed, other, reason = "a chatroom token", "an API key", "TOKEN_REQUIRED"


class IsChatroomAdmin(HasChatroomToken):
    """A chatroom token with ROLE_ADMIN."""

    def has_permission(self, request, view):
        super().has_permission(request, view)
        if not request.auth.claims.is_admin:
            raise PermissionDenied(
                "This operation needs a chatroom token with ROLE_ADMIN.",
                reason="ADMIN_ROLE_REQUIRED",
            )
        return True
