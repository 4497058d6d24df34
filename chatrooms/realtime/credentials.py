"""Which MQTT CONNECT may proceed: the answer the broker plugin asks the web app for.

The checks are the REST API's (``auth.chatroom_token_verify``: signature, expiry,
the room exists) plus one of the realtime link's own: the room is active. Clients
present the token in one of three places (docs/realtime.md):

1. the password (any MQTT client);
2. the CONNECT username in the AWS IoT custom-authorizer form the Android SDK uses,
   ``<anything>?x-amz-customauthorizer-name=…&x-amz-customauthorizer-signature=…&x-token=<JWT>``;
3. the client id, when it is the signed one GET /chatrooms/config issued (for clients
   whose token travels only in the WebSocket URL, which the broker cannot read).

The first credential present is the one judged: a bad password is not rescued by a
good client id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qs

from chatrooms import auth
from chatrooms.errors import Unauthenticated
from chatrooms.models import ChatStatus
from chatrooms.realtime import topics

TOKEN_PARAMETER = "x-token"
# Longer than any token we issue by far; a bound on what we parse.
MAX_CREDENTIAL_LENGTH = 8192


@dataclass(frozen=True)
class Connection:
    """What the broker enforces for one authenticated client."""

    claims: auth.TokenClaims

    @property
    def identity(self) -> dict:
        """Who this client is; the broker stamps it on every message the client sends,
        so the worker never takes the sender from the payload."""
        claims = self.claims
        return {
            "room": str(claims.chat_id),
            "id": claims.subject,
            "device_id": claims.device_id,
            "custom_name": claims.name,
            "role": claims.role,
            "session": claims.jti,
        }

    def as_broker_answer(self) -> dict:
        room = self.claims.chat_id
        return {
            "allow": True,
            "room": str(room),
            "session": self.claims.jti,
            "user": self.claims.subject,
            "expires_at": int(self.claims.expires_at.timestamp()),
            "publish": [topics.publish_topic(room)],
            "subscribe": [topics.subscribe_topic(room, is_admin=self.claims.is_admin)],
            "identity": json.dumps(self.identity, separators=(",", ":")),
        }


def token_in_username(username: str) -> str | None:
    """The x-token value of the custom-authorizer username form, if that is its form."""
    _, separator, query = username.partition("?")
    if not separator:
        return None
    values = parse_qs(query, keep_blank_values=True, max_num_fields=16).get(TOKEN_PARAMETER)
    return values[0] if values and len(values) == 1 else None


def looks_like_client_id_credential(client_id: str) -> bool:
    return client_id.count(".") == 2 and client_id.startswith("ey")


def connection_authorize(*, username: str | None, password: str | None, client_id: str | None):
    """The Connection for a CONNECT, or raise Unauthenticated."""
    username, password, client_id = username or "", password or "", client_id or ""
    if max(len(username), len(password), len(client_id)) > MAX_CREDENTIAL_LENGTH:
        raise Unauthenticated("The credential is too long.", reason="CREDENTIAL_MALFORMED")
    try:
        if password:
            claims, room = auth.chatroom_token_verify(password)
        elif (token := token_in_username(username)) is not None:
            claims, room = auth.chatroom_token_verify(token)
        elif looks_like_client_id_credential(client_id):
            claims, room = auth.chatroom_token_verify(client_id, token_type=auth.CLIENT_ID_TYPE)
        else:
            raise Unauthenticated("No credential was presented.", reason="CREDENTIAL_MISSING")
    except ValueError:  # parse_qs on hostile input
        raise Unauthenticated(
            "The credential is malformed.", reason="CREDENTIAL_MALFORMED"
        ) from None
    if room.status != ChatStatus.ACTIVE:
        raise Unauthenticated("The chatroom is inactive.", reason="CHATROOM_INACTIVE")
    if (password or username) and looks_like_client_id_credential(client_id):
        _require_own_client_id(client_id, claims)
    return Connection(claims=claims)


def _require_own_client_id(client_id: str, claims: auth.TokenClaims) -> None:
    """A signed client id may be used only by the user it was issued to: otherwise a
    token holder could take over (and so disconnect) another user's session."""
    try:
        owner, _room = auth.chatroom_token_verify(client_id, token_type=auth.CLIENT_ID_TYPE)
    except Unauthenticated:
        raise Unauthenticated("The client id is not valid.", reason="CLIENT_ID_INVALID") from None
    same = (owner.chat_id, owner.subject, owner.device_id) == (
        claims.chat_id,
        claims.subject,
        claims.device_id,
    )
    if not same:
        raise Unauthenticated(
            "The client id belongs to another user.", reason="CLIENT_ID_NOT_YOURS"
        )
