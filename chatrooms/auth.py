"""Credentials: organisation API keys and chatroom tokens.

Both travel as ``Authorization: Bearer <credential>``. API keys look like
``crk_<prefix>_<secret>``; anything else is read as a chatroom token, a JWT
(HS256) naming one room, one user and device, a role and its session, signed by
one of the accepted keys (``kid``). Refresh tokens are opaque, stored hashed, and
rotate on every use within their session's absolute lifetime. Revoking a session
ends all its tokens at once (docs/api.md, "Revocation").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

import jwt
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from chatrooms import caching
from chatrooms.errors import PermissionDenied, ResourceExhausted, Unauthenticated
from chatrooms.models import (
    ActorKind,
    ApiKey,
    AuditAction,
    AuditSource,
    Chatroom,
    ChatSession,
    RefreshToken,
    Role,
    SessionRevocation,
)
from chatrooms.realtime import publisher

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
    # Whose allowance the per-user send limits count, when not ``id`` (ratelimit).
    limit_id: str = ""

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
    def api_key_sender(cls, api_key: ApiKey, *, user_id: str, name: str) -> Actor:
        """Who a message sent with an API key (POST /chatrooms/{id}/messages) comes from:
        the ``user_id`` the request names, flagged admin (a server-side sender, like a
        host: not muted, not slowed); the send limits count it against the key, whatever
        user ids it names."""
        return cls(
            kind=ActorKind.API_KEY,
            source=AuditSource.API,
            id=user_id,
            name=name,
            is_admin=True,
            limit_id=f"api_key:{api_key.prefix}",
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
DEFAULT_KEY_ID = "default"
# How long a room's revoked-session set stays in the shared cache, and for how many rooms
# each process keeps it. Its key names the room's revocation_version, so a revocation
# never waits for either: they only bound memory.
REVOKED_SESSIONS_CACHE_SECONDS = 3600
REVOKED_SESSIONS_PROCESS_ROOMS = 1024


def token_secret() -> str:
    """The secret of the default key: CHATROOM_TOKEN_SECRET, or derived from SECRET_KEY."""
    if settings.CHATROOM_TOKEN_SECRET:
        return settings.CHATROOM_TOKEN_SECRET
    return _derived_secret(settings.SECRET_KEY)


@lru_cache(maxsize=4)
def _derived_secret(secret_key: str) -> str:
    return hmac.new(secret_key.encode(), b"chatroom-token", hashlib.sha256).hexdigest()


@lru_cache(maxsize=4)
def _default_key_id(secret: str) -> str:
    """The default key's kid names its secret (a keyed digest, not the secret), so
    changing CHATROOM_TOKEN_SECRET or SECRET_KEY retires what the old one signed."""
    digest = hmac.new(secret.encode(), b"chatroom-token-kid", hashlib.sha256).hexdigest()
    return f"{DEFAULT_KEY_ID}-{digest[:12]}"


def accepted_keys() -> dict[str, str]:
    """{kid: secret} of every key accepted for verification (CHATROOM_TOKEN_KEYS)."""
    keys = {}
    for kid, secret in settings.CHATROOM_TOKEN_KEYS.items():
        if secret is None:  # the default key
            secret = token_secret()
            kid = _default_key_id(secret)
        keys[kid] = secret
    return keys


def signing_key() -> tuple[str, str]:
    """(kid, secret) of the key that signs new tokens (CHATROOM_TOKEN_SIGNING_KEY_ID)."""
    kid = settings.CHATROOM_TOKEN_SIGNING_KEY_ID
    secret = settings.CHATROOM_TOKEN_KEYS[kid]
    if secret is None:
        secret = token_secret()
        kid = _default_key_id(secret)
    return kid, secret


def key_secret(kid: str | None) -> str | None:
    """The secret of an accepted key, or None for a retired or unknown one. A token
    without a kid (signed before keys had ids) is read as signed by the default key."""
    if kid is None:
        if DEFAULT_KEY_ID not in settings.CHATROOM_TOKEN_KEYS:
            return None
        kid = _default_key_id(token_secret())
    return accepted_keys().get(kid) if isinstance(kid, str) else None


def key_accepted(kid: str) -> bool:
    return kid in accepted_keys()


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    chat_id: uuid.UUID
    device_id: str
    name: str
    role: Role
    expires_at: datetime
    jti: str
    session_id: str = ""

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
    session: ChatSession | None = None


def _encode(*, session: ChatSession, expires_at: datetime) -> tuple[str, TokenClaims]:
    now = timezone.now()
    claims = TokenClaims(
        subject=session.subject,
        chat_id=session.room_id,
        device_id=session.device_id,
        name=session.name,
        role=Role(session.role),
        expires_at=expires_at,
        jti=uuid.uuid4().hex,
        session_id=str(session.pk),
    )
    payload = {
        "iss": settings.CHATROOM_TOKEN_ISSUER,
        "type": TOKEN_TYPE,
        "tenant_id": settings.CHATROOM_TENANT_ID,
        "sub": claims.subject,
        "chat_id": str(claims.chat_id),
        "device_id": claims.device_id,
        "name": claims.name,
        "roles": [claims.role],
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": claims.jti,
        "sid": claims.session_id,
    }
    kid, secret = signing_key()
    token = jwt.encode(payload, secret, algorithm=TOKEN_ALGORITHM, headers={"kid": kid})
    return token, claims


def _new_refresh_token(session: ChatSession) -> str:
    plaintext = "crr_" + secrets.token_urlsafe(32)
    RefreshToken.objects.create(
        token_hash=hash_secret(plaintext),
        family=session.pk,
        session=session,
        room_id=session.room_id,
        subject=session.subject,
        device_id=session.device_id,
        name=session.name,
        role=session.role,
        expires_at=session.expires_at,
    )
    return plaintext


def _token_expiry(requested: datetime | None, *, limit: datetime | None = None) -> datetime:
    """The default lifetime, or a shorter one a client asked for (SDKs send
    `expired_at` to test expiry); never longer than the default, nor than ``limit``
    (the session's absolute expiry)."""
    default = timezone.now() + settings.CHATROOM_TOKEN_TTL
    if limit is not None:
        default = min(default, limit)
    if requested is None or requested > default:
        return default
    return requested


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(0, int((moment - now).total_seconds()))


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
    actor: Actor | None = None,
    api_key: ApiKey | None = None,
) -> IssuedToken:
    """Mint a token and a refresh token for one user of one room, in a new session.

    ``refreshable=False`` mints no refresh token (short-lived credentials the server
    re-issues itself, such as the console's realtime token). ``actor`` is who minted
    it (audited; the server itself when omitted) and ``api_key`` the key it used: its
    revocation ends the session."""
    from chatrooms import services  # services imports this module

    actor = actor or Actor.system("server")
    now = timezone.now()
    expires_at = _token_expiry(expired_at)
    session = ChatSession.objects.create(
        room=room,
        subject=subject or str(uuid.uuid4()),
        device_id=device_id or str(uuid.uuid4()),
        name=name or ("Admin" if role == Role.ADMIN else "Guest"),
        role=role,
        api_key=api_key,
        minted_by=actor.user,
        key_id=signing_key()[0],
        refreshable=refreshable,
        created_at=now,
        expires_at=now + settings.CHATROOM_REFRESH_TOKEN_TTL if refreshable else expires_at,
    )
    if api_key is not None and not ApiKey.objects.filter(pk=api_key.pk, revoked_at=None).exists():
        # The key was revoked while this mint waited on its row (the insert above): the
        # revocation could not see this session, so it must not exist.
        raise Unauthenticated("The API key has been revoked.", reason="API_KEY_REVOKED")
    # No token outlives its session: a revoked session's id then stays in the revoked
    # set for as long as any of its tokens could be presented.
    expires_at = min(expires_at, session.expires_at)
    token, claims = _encode(session=session, expires_at=expires_at)
    refresh = _new_refresh_token(session) if refreshable else ""
    services.audit_record(
        actor=actor,
        action=AuditAction.TOKEN_MINT,
        room=room,
        target_type="session",
        target_id=session.pk,
        after={
            "role": session.role,
            "subject": session.subject,
            "session": str(session.pk),
            "api_key": api_key.prefix if api_key is not None else None,
            "staff_user": actor.user.pk if actor.user is not None else None,
            "refreshable": refreshable,
        },
    )
    return IssuedToken(
        token=token,
        expires_in=_seconds_until(expires_at, timezone.now()),
        refresh_token=refresh,
        refresh_expires_in=_seconds_until(session.expires_at, now) if refreshable else 0,
        claims=claims,
        session=session,
    )


def chatroom_token_refresh(
    *, refresh_token: str, expired_at: datetime | None = None
) -> IssuedToken:
    """Exchange a refresh token for a new token and a new refresh token, in the same
    session and never past the session's absolute expiry.

    A refresh token works once. Presenting a used one again revokes its whole
    session, access tokens included, so a stolen copy dies as soon as either party
    uses it twice.
    """
    with transaction.atomic():
        token_hash = hash_secret(refresh_token)
        session = None
        session_id = (
            RefreshToken.objects.filter(token_hash=token_hash)
            .values_list("session_id", flat=True)
            .first()
        )
        if session_id is not None:
            # The session first, then the token: the order revocations lock them in, so
            # a refresh and a revocation of one session queue instead of deadlocking.
            session = ChatSession.objects.select_for_update().get(pk=session_id)
        row = RefreshToken.objects.select_for_update().filter(token_hash=token_hash).first()
        now = timezone.now()
        reused = row is not None and row.used_at is not None
        if reused:
            # Committed before the error is raised: the revocation must stick.
            RefreshToken.objects.filter(family=row.family, revoked_at__isnull=True).update(
                revoked_at=now
            )
            if session is not None:
                _reuse_detected(session, now=now)
        else:
            return _rotate(row, session, now=now, expired_at=expired_at)
    raise Unauthenticated(
        "The refresh token was already used; its whole session is now revoked.",
        reason="REFRESH_TOKEN_REUSED",
    )


def _reuse_detected(session: ChatSession, *, now: datetime) -> None:
    from chatrooms import services  # services imports this module

    revoke_sessions(
        ChatSession.objects.filter(pk=session.pk),
        reason=SessionRevocation.REFRESH_REUSED,
        now=now,
    )
    services.audit_record(
        actor=Actor.system("refresh-token-reuse", source=AuditSource.API),
        action=AuditAction.TOKEN_REUSE,
        room=session.room,
        target_type="session",
        target_id=session.pk,
        after={"subject": session.subject, "role": session.role, "session": str(session.pk)},
    )


def _rotate(
    row: RefreshToken | None,
    session: ChatSession | None,
    *,
    now: datetime,
    expired_at: datetime | None,
) -> IssuedToken:
    if row is None:
        raise Unauthenticated(
            "The refresh token is not recognised.", reason="REFRESH_TOKEN_UNKNOWN"
        )
    if session is None:
        raise Unauthenticated(
            "The refresh token predates sessions; mint a new token.",
            reason="REFRESH_TOKEN_REVOKED",
        )
    if row.revoked_at is not None or session.revoked_at is not None:
        raise Unauthenticated("The refresh token has been revoked.", reason="REFRESH_TOKEN_REVOKED")
    if min(row.expires_at, session.expires_at) <= now:
        raise Unauthenticated("The refresh token has expired.", reason="REFRESH_TOKEN_EXPIRED")
    if not key_accepted(session.key_id):
        raise Unauthenticated(
            "The refresh token's signing key was retired.", reason="REFRESH_TOKEN_REVOKED"
        )
    if not Chatroom.objects.filter(pk=row.room_id).exists():
        raise Unauthenticated("The chatroom no longer exists.", reason="CHATROOM_GONE")
    row.used_at = now
    row.save(update_fields=["used_at"])
    session.name = row.name  # PUT /chatrooms/users renames through the refresh tokens
    session.key_id = signing_key()[0]  # the session moves to the key that signs now
    session.save(update_fields=["name", "key_id"])
    expires_at = _token_expiry(expired_at, limit=session.expires_at)
    token, claims = _encode(session=session, expires_at=expires_at)
    refresh = _new_refresh_token(session)
    return IssuedToken(
        token=token,
        expires_in=_seconds_until(expires_at, now),
        refresh_token=refresh,
        refresh_expires_in=_seconds_until(session.expires_at, now),
        claims=claims,
        session=session,
    )


def revoke_sessions(sessions, *, reason: SessionRevocation, now: datetime) -> list[uuid.UUID]:
    """Revoke the live sessions among ``sessions`` (a queryset) and their refresh
    tokens; bump each affected room's revocation_version in this transaction, so every
    process sees the revocation on its next request; after commit, have the broker
    disconnect their users. Returns the ids of the sessions revoked. The caller audits."""
    live = sessions.filter(revoked_at__isnull=True, expires_at__gt=now)
    ids, pairs = [], set()
    for pk, room_id, subject in live.values_list("pk", "room_id", "subject"):
        ids.append(pk)
        pairs.add((room_id, subject))
    if not ids:
        return []
    ChatSession.objects.filter(pk__in=ids).update(revoked_at=now, revoked_reason=reason)
    RefreshToken.objects.filter(session__in=ids, revoked_at__isnull=True).update(revoked_at=now)
    rooms = sorted({room_id for room_id, _ in pairs})
    Chatroom.objects.filter(pk__in=rooms).update(revocation_version=F("revocation_version") + 1)
    for room_id, subject in sorted(pairs):
        publisher.end_sessions(room=room_id, user=subject)
    return ids


def revoked_sessions(room: Chatroom) -> frozenset[str]:
    """The ids of the room's revoked, unexpired sessions that its
    ``sessions_revoked_before`` does not already cover.

    Named by the room's revocation_version, which every revocation bumps in its own
    transaction: a process that loaded the room after a revocation committed asks for a
    key that did not exist before it, so no revocation is ever served stale. The value
    under a key never changes (sessions that expire later stay in it, harmlessly), so
    it is kept in this process (an LRU), then in the shared cache; on a miss or a cache
    outage one indexed query builds it (never failing open)."""
    if not room.revocation_version:
        return frozenset()  # nothing in this room was ever revoked
    return _revoked_sessions(room.pk, room.revocation_version, room.sessions_revoked_before)


@lru_cache(maxsize=REVOKED_SESSIONS_PROCESS_ROOMS)
def _revoked_sessions(room_id, version: int, cutoff: datetime | None) -> frozenset[str]:
    key = f"chatrooms:revoked-sessions:{room_id}:{version}"
    revoked = caching.get(key)
    if revoked is None:
        rows = ChatSession.objects.filter(
            room_id=room_id, revoked_at__isnull=False, expires_at__gt=timezone.now()
        )
        if cutoff is not None:
            rows = rows.filter(revoked_at__gt=cutoff)
        revoked = frozenset(str(pk) for pk in rows.values_list("pk", flat=True))
        caching.set(key, revoked, REVOKED_SESSIONS_CACHE_SECONDS)
    return revoked


def _require_not_revoked(room: Chatroom, *, session_id: str, issued_at: int) -> None:
    cutoff = room.sessions_revoked_before
    # iat has whole seconds: a token issued within the second of a room-wide revocation
    # counts as issued before it (refused), never the other way round.
    revoked = cutoff is not None and issued_at <= int(cutoff.timestamp())
    if revoked or session_id in revoked_sessions(room):
        raise Unauthenticated("The chatroom token has been revoked.", reason="TOKEN_REVOKED")


# Tokens whose signature and claims this process has checked, by the token's text: a
# token cannot change, so a hit only re-checks what can (its expiry, whether its key is
# still accepted, the issuer); the room and the session's revocation are read each time.
# PyJWT checks each base64 character in Python: about a third of a cached room-state read.
VERIFIED_TOKENS_MAX = 4096
_verified_tokens: dict[str, _VerifiedToken] = {}
_verified_lock = threading.Lock()


@dataclass(frozen=True)
class _VerifiedToken:
    kid: str | None
    secret: str
    issuer: str
    token_type: str
    claims: TokenClaims
    issued_at: int
    exp: int


def _decode_token(token: str, token_type: str) -> _VerifiedToken:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        secret = key_secret(kid)
        if secret is None:
            raise jwt.InvalidTokenError("unknown or retired signing key")
        payload = jwt.decode(
            token,
            secret,
            algorithms=[TOKEN_ALGORITHM],
            issuer=settings.CHATROOM_TOKEN_ISSUER,
            options={"require": ["exp", "iat", "sub", "chat_id", "roles", "jti", "sid"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The chatroom token has expired.", reason="TOKEN_EXPIRED") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("The chatroom token is invalid.", reason="TOKEN_INVALID") from None
    try:
        roles = payload["roles"]
        role = Role(roles[0]) if isinstance(roles, list) and roles else None
        chat_id = uuid.UUID(payload["chat_id"])
        session_id = str(uuid.UUID(payload["sid"]))
        issued_at = int(payload["iat"])
        exp = int(payload["exp"])
        if payload.get("type") != token_type or role is None:
            raise ValueError
        claims = TokenClaims(
            subject=str(payload["sub"]),
            chat_id=chat_id,
            device_id=str(payload.get("device_id", "")),
            name=str(payload.get("name", "")),
            role=role,
            expires_at=datetime.fromtimestamp(payload["exp"], tz=UTC),
            jti=str(payload["jti"]),
            session_id=session_id,
        )
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, OSError):
        raise Unauthenticated("The chatroom token is invalid.", reason="TOKEN_INVALID") from None
    return _VerifiedToken(
        kid=kid if isinstance(kid, str) else None,
        secret=secret,
        issuer=settings.CHATROOM_TOKEN_ISSUER,
        token_type=token_type,
        claims=claims,
        issued_at=issued_at,
        exp=exp,
    )


def _verified_token(token: str, token_type: str) -> _VerifiedToken:
    checked = _verified_tokens.get(token)
    if (
        checked is None
        or checked.token_type != token_type
        or checked.issuer != settings.CHATROOM_TOKEN_ISSUER
        or key_secret(checked.kid) != checked.secret
    ):
        checked = _decode_token(token, token_type)
        with _verified_lock:
            _verified_tokens[token] = checked
            while len(_verified_tokens) > VERIFIED_TOKENS_MAX:
                _verified_tokens.pop(next(iter(_verified_tokens)))
    elif checked.exp <= time.time():  # as PyJWT decides it, without leeway
        raise Unauthenticated("The chatroom token has expired.", reason="TOKEN_EXPIRED")
    return checked


class _RoomByPk:
    """``Chatroom.objects.filter(pk=...)`` compiled once per database connection, then run
    with a new parameter: building the same SQL again was a fifth of a cached read."""

    def __init__(self):
        self._compiled: dict[str, tuple] = {}

    def __call__(self, pk: uuid.UUID) -> Chatroom | None:
        using = connection.alias
        compiled = self._compiled.get(using)
        if compiled is None:
            compiler = Chatroom.objects.filter(pk=pk).order_by().query.get_compiler(using)
            sql, _params = compiler.as_sql()
            columns = [col for col, _select, _alias in compiler.select]
            converters = compiler.get_converters(columns)
            names = [field.attname for field in Chatroom._meta.concrete_fields]
            if [col.target.attname for col in columns] != names:  # pragma: no cover
                raise RuntimeError("unexpected column order")
            # The converters (SQLite's: text to datetime, UUID...) read no connection state.
            compiled = (sql, compiler, converters, names)
            self._compiled[using] = compiled
        sql, compiler, converters, names = compiled
        value = Chatroom._meta.pk.get_db_prep_value(pk, connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, [value])
            row = cursor.fetchone()
        if row is None:
            return None
        if converters:
            row = next(iter(compiler.apply_converters([row], converters)))
        return Chatroom.from_db(using, names, row)


_room_by_pk = _RoomByPk()


def chatroom_token_verify(
    token: str, *, token_type: str = TOKEN_TYPE
) -> tuple[TokenClaims, Chatroom]:
    """Check a token's signing key, signature, expiry, room and session; return its
    claims and the room.

    ``token_type`` is the ``type`` claim required: chatroom tokens, or the signed
    MQTT client ids that GET /chatrooms/config issues (``realtime_client_id``).
    A token without a ``kid`` header is read as signed by the default key; one
    without a ``sid`` claim (minted before sessions existed) is refused. The
    signature and claims of a token are checked once per process (``_verified_token``);
    the room is read, and the session's revocation checked, on every call.
    """
    checked = _verified_token(token, token_type)
    room = _room_by_pk(checked.claims.chat_id)
    if room is None:
        raise Unauthenticated("The chatroom of this token does not exist.", reason="CHATROOM_GONE")
    _require_not_revoked(room, session_id=checked.claims.session_id, issued_at=checked.issued_at)
    return checked.claims, room


CLIENT_ID_TYPE = "mqtt-client"


def realtime_client_id(claims: TokenClaims) -> str:
    """An MQTT client id that is itself a credential: the token's claims, signed, as a
    JWT of another type. For clients whose token travels only in the WebSocket URL,
    which the broker cannot read (docs/realtime.md). It names the token's session, so
    revoking the session or retiring the key refuses it too."""
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
        "sid": claims.session_id,
    }
    kid, secret = signing_key()
    return jwt.encode(payload, secret, algorithm=TOKEN_ALGORITHM, headers={"kid": kid})


def realtime_signature(token: str) -> str:
    """What a broker's custom authorizer can check the token against."""
    _kid, secret = signing_key()
    digest = hmac.new(secret.encode(), token.encode(), hashlib.sha256).digest()
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


class HasApiKeyOrChatroomToken(BasePermission):
    """Either credential; the view answers each its own way (GET /chatrooms)."""

    def has_permission(self, request, view):
        if request.auth is None:
            raise Unauthenticated(
                "This operation needs an API key or a chatroom token: "
                "'Authorization: Bearer <credential>'.",
                reason="CREDENTIAL_REQUIRED",
            )
        return True
