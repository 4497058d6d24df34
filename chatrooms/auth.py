"""Credentials: organisation API keys (and, later, chatroom tokens).

Both travel as ``Authorization: Bearer <credential>``. API keys look like
``crk_<prefix>_<secret>``; anything else is treated as a chatroom token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from chatrooms.errors import PermissionDenied, Unauthenticated
from chatrooms.models import ActorKind, ApiKey, AuditSource

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


class BearerAuthentication(BaseAuthentication):
    """Recognises either credential; the view's permission says which it needs."""

    def authenticate(self, request):
        credential = bearer_credential(request)
        if credential is None:
            return None
        if credential.startswith(API_KEY_SCHEME + "_"):
            principal = ApiKeyPrincipal(api_key_authenticate(credential))
            return principal, principal
        raise Unauthenticated("The credential is not recognised.", reason="CREDENTIAL_UNKNOWN")

    def authenticate_header(self, request):
        return "Bearer"


class HasApiKey(BasePermission):
    """The organisation API key (upstream "API token")."""

    def has_permission(self, request, view):
        if request.auth is None:
            raise Unauthenticated(
                "This operation needs an API key: 'Authorization: Bearer <key>'.",
                reason="API_KEY_REQUIRED",
            )
        if not isinstance(request.auth, ApiKeyPrincipal):
            raise PermissionDenied(
                "This operation needs an API key, not a chatroom token.",
                reason="API_KEY_REQUIRED",
            )
        return True
