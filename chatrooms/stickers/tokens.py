"""Sticker tokens (POST /stickerpacks/tokens) and who may manage sticker packs.

A sticker token is a JWT of its own ``type`` ("stickerpack"), signed with the chatroom
tokens' keys (``chatrooms.auth``: the same rotation retires both). It names the API key
that minted it: revoking that key ends its sticker tokens too. The /stickerpacks
operations take a sticker token or a chatroom token with ROLE_ADMIN (upstream), never
an API key itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import jwt
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from chatrooms import auth, services
from chatrooms.auth import Actor, ApiKeyPrincipal, ChatroomPrincipal
from chatrooms.errors import PermissionDenied, Unauthenticated
from chatrooms.models import ActorKind, ApiKey, AuditAction, AuditSource

TOKEN_TYPE = "stickerpack"


@dataclass(frozen=True)
class StickerTokenPrincipal:
    api_key_prefix: str
    name: str
    is_authenticated = True

    def actor(self) -> Actor:
        return Actor(
            kind=ActorKind.API_KEY,
            source=AuditSource.API,
            id=f"sticker_token:{self.api_key_prefix}",
            name=self.name,
            is_admin=True,
        )


@transaction.atomic
def sticker_token_issue(*, actor: Actor, api_key: ApiKey) -> tuple[str, int]:
    """(token, expires_in seconds) for the key's holder; audited."""
    now = timezone.now()
    expires_at = now + settings.CHATROOM_STICKER_TOKEN_TTL
    kid, secret = auth.signing_key()
    payload = {
        "iss": settings.CHATROOM_TOKEN_ISSUER,
        "type": TOKEN_TYPE,
        "tenant_id": settings.CHATROOM_TENANT_ID,
        "sub": f"api_key:{api_key.prefix}",
        "akp": api_key.prefix,
        "name": api_key.name,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(payload, secret, algorithm=auth.TOKEN_ALGORITHM, headers={"kid": kid})
    services.audit_record(
        actor=actor,
        action=AuditAction.STICKER_TOKEN_MINT,
        target_type="api_key",
        target_id=api_key.prefix,
        after={"expires_at": expires_at.isoformat()},
    )
    return token, int(settings.CHATROOM_STICKER_TOKEN_TTL.total_seconds())


def is_sticker_token(credential: str) -> bool:
    try:
        return jwt.decode(credential, options={"verify_signature": False}).get("type") == (
            TOKEN_TYPE
        )
    except (jwt.InvalidTokenError, AttributeError):
        return False


def sticker_token_verify(credential: str) -> StickerTokenPrincipal:
    try:
        secret = auth.key_secret(jwt.get_unverified_header(credential).get("kid"))
        if secret is None:
            raise jwt.InvalidTokenError("unknown or retired signing key")
        payload = jwt.decode(
            credential,
            secret,
            algorithms=[auth.TOKEN_ALGORITHM],
            issuer=settings.CHATROOM_TOKEN_ISSUER,
            options={"require": ["exp", "iat", "sub", "akp", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The sticker token has expired.", reason="TOKEN_EXPIRED") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("The sticker token is invalid.", reason="TOKEN_INVALID") from None
    prefix = payload.get("akp")
    if payload.get("type") != TOKEN_TYPE or not isinstance(prefix, str):
        raise Unauthenticated("The sticker token is invalid.", reason="TOKEN_INVALID")
    if not ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).exists():
        raise Unauthenticated(
            "The API key that minted this sticker token was revoked.", reason="TOKEN_REVOKED"
        )
    return StickerTokenPrincipal(api_key_prefix=prefix, name=str(payload.get("name", "")))


class StickerTokenAuthentication(BaseAuthentication):
    """Sticker tokens; any other credential is left to ``auth.BearerAuthentication``,
    which comes after this class in the sticker views."""

    def authenticate(self, request):
        with auth.counting_auth_failures(request):
            credential = auth.bearer_credential(request)
            if credential is None or not is_sticker_token(credential):
                return None
            principal = sticker_token_verify(credential)
        return principal, principal

    def authenticate_header(self, request):
        return "Bearer"


class CanManageStickers(BasePermission):
    """A sticker token, or a chatroom token with ROLE_ADMIN (of any room: packs belong
    to the organisation)."""

    schema_security = [{"StickerToken": []}, {"ChatroomToken": []}]

    def has_permission(self, request, view):
        principal = request.auth
        if principal is None:
            raise Unauthenticated(
                "This operation needs a sticker token or an admin chatroom token: "
                "'Authorization: Bearer <credential>'.",
                reason="CREDENTIAL_REQUIRED",
            )
        if isinstance(principal, StickerTokenPrincipal):
            return True
        if isinstance(principal, ChatroomPrincipal) and principal.claims.is_admin:
            return True
        if isinstance(principal, ApiKeyPrincipal):
            raise PermissionDenied(
                "This operation needs a sticker token (POST /stickerpacks/tokens) or an "
                "admin chatroom token, not an API key.",
                reason="STICKER_TOKEN_REQUIRED",
            )
        raise PermissionDenied(
            "This operation needs a chatroom token with ROLE_ADMIN or a sticker token.",
            reason="ADMIN_ROLE_REQUIRED",
        )
