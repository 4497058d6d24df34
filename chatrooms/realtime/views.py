"""The broker plugin's question: may this CONNECT proceed, and as whom?

Not part of the public API: only the broker calls it, with the shared broker secret,
and nginx does not route /internal/ from outside (deploy/).
"""

from __future__ import annotations

import hmac
import json
import logging

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from chatrooms.errors import Unauthenticated
from chatrooms.realtime import credentials
from chatrooms.realtime.publisher import broker_secret

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 * 1024


def _string_or_none(body: dict, key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(key)
    return value


@csrf_exempt
@require_POST
def broker_auth(request):
    presented = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(presented.encode(), broker_secret().encode()):
        return HttpResponse(status=403)
    if len(request.body) > MAX_BODY_BYTES:
        return HttpResponse(status=413)
    try:
        body = json.loads(request.body)
        if not isinstance(body, dict):
            raise ValueError("not an object")
        username, password, client_id, address = (
            _string_or_none(body, key) for key in ("username", "password", "client_id", "address")
        )
    except ValueError:  # JSONDecodeError and UnicodeDecodeError included
        return HttpResponse(status=400)
    # No per-address failure count here, unlike the REST API: behind nginx every
    # WebSocket client has nginx's address, so counting would let one client lock
    # out all; and only signed JWTs are accepted, which guessing cannot find.
    try:
        connection = credentials.connection_authorize(
            username=username, password=password, client_id=client_id
        )
    except Unauthenticated as exc:
        reason = exc.reason
        logger.info("realtime connect refused: %s (from %s)", reason, address or "?")
        return JsonResponse({"allow": False, "reason": reason})
    return JsonResponse(connection.as_broker_answer())
