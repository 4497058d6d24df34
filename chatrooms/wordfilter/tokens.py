"""Dictionary tokens (upstream `POST /dictionaries/tokens`): what an API key mints for
managing dictionaries without handing out the key itself.

A dictionary token is ``crd_`` + a JWT signed with the chatroom tokens' signing key
(``chatrooms.auth.signing_key``, so key rotation covers it), of ``type`` ``dictionary``,
naming the API key that minted it (``akp``, the key's prefix). It works until it
expires (``DICTIONARY_TOKEN_TTL``, 7 days as upstream's example) and only while that
key is active: revoking the key revokes its dictionary tokens.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication

from chatrooms import auth
from chatrooms.auth import Actor
from chatrooms.errors import Unauthenticated
from chatrooms.models import ActorKind, ApiKey, AuditAction, AuditSource

PREFIX = "crd_"
TOKEN_TYPE = "dictionary"


def ttl_seconds() -> int:
    return int(getattr(settings, "CHATROOM_DICTIONARY_TOKEN_TTL", 7 * 24 * 3600))


@dataclass(frozen=True)
class DictionaryPrincipal:
    """A verified dictionary token: acts as the API key that minted it."""

    api_key: ApiKey
    is_authenticated = True

    def actor(self) -> Actor:
        return Actor(
            kind=ActorKind.API_KEY,
            source=AuditSource.API,
            id=f"api_key:{self.api_key.prefix}",
            name=f"{self.api_key.name} (dictionary token)",
            is_admin=True,
        )


@transaction.atomic
def dictionary_token_issue(*, api_key: ApiKey) -> tuple[str, int]:
    """(token, expires_in seconds); audited as ``dictionary.token``."""
    from chatrooms.services import audit_record

    now = timezone.now()
    expires_in = ttl_seconds()
    payload = {
        "iss": settings.CHATROOM_TOKEN_ISSUER,
        "type": TOKEN_TYPE,
        "sub": f"api_key:{api_key.prefix}",
        "akp": api_key.prefix,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=expires_in)).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    kid, secret = auth.signing_key()
    token = PREFIX + jwt.encode(
        payload, secret, algorithm=auth.TOKEN_ALGORITHM, headers={"kid": kid}
    )
    audit_record(
        actor=Actor.for_api_key(api_key),
        action=AuditAction.DICTIONARY_TOKEN,
        target_type="api_key",
        target_id=api_key.prefix,
        after={"expires_in": expires_in},
    )
    return token, expires_in


def dictionary_token_verify(token: str) -> DictionaryPrincipal:
    """The principal of a live dictionary token, or UNAUTHENTICATED."""
    raw = token.removeprefix(PREFIX)
    try:
        secret = auth.key_secret(jwt.get_unverified_header(raw).get("kid"))
        if secret is None:
            raise jwt.InvalidTokenError("unknown or retired signing key")
        payload = jwt.decode(
            raw,
            secret,
            algorithms=[auth.TOKEN_ALGORITHM],
            issuer=settings.CHATROOM_TOKEN_ISSUER,
            options={"require": ["exp", "iat", "sub", "akp", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The dictionary token has expired.", reason="TOKEN_EXPIRED") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("The dictionary token is invalid.", reason="TOKEN_INVALID") from None
    if payload.get("type") != TOKEN_TYPE or not isinstance(payload.get("akp"), str):
        raise Unauthenticated("The dictionary token is invalid.", reason="TOKEN_INVALID")
    api_key = ApiKey.objects.filter(prefix=payload["akp"], revoked_at__isnull=True).first()
    if api_key is None:
        raise Unauthenticated(
            "The API key that minted this dictionary token was revoked.",
            reason="TOKEN_REVOKED",
        )
    return DictionaryPrincipal(api_key)


class DictionaryAuthentication(BaseAuthentication):
    """A dictionary token (``crd_...``), or else what ``BearerAuthentication`` reads
    (an API key or a chatroom token): the view's permission says which it takes."""

    def authenticate(self, request):
        with auth.counting_auth_failures(request):
            credential = auth.bearer_credential(request)
            if credential is not None and credential.startswith(PREFIX):
                principal = dictionary_token_verify(credential)
                return principal, principal
        return auth.BearerAuthentication().authenticate(request)

    def authenticate_header(self, request):
        return "Bearer"
