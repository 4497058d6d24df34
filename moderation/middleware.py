"""The console's one addition to the Content Security Policy: its pages may open the
realtime link (static/moderation/realtime.js)."""

from urllib.parse import urlsplit

from django.conf import settings


def realtime_origin() -> str | None:
    """The broker's WebSocket origin, ``ws[s]://host[:port]``, from CHATROOM_REALTIME_URL."""
    url = urlsplit(settings.CHATROOM_REALTIME_URL)
    if url.scheme not in ("ws", "wss") or not url.hostname:
        return None
    return f"{url.scheme}://{url.netloc.rpartition('@')[2]}"


class RealtimeConnectSrcMiddleware:
    """Add the broker's origin to ``connect-src`` on every console page, read from the
    settings per request. Only the room page connects, but the console navigates with
    hx-boost, which swaps the room page into whichever console page the moderator
    loaded first, and a document keeps the policy it was loaded with.

    Listed after ``CSPMiddleware`` so that it sees the response first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = request.resolver_match
        origin = realtime_origin()
        if origin and match is not None and match.app_name == "moderation":
            update = dict(getattr(response, "_csp_update", None) or {})
            update["connect-src"] = [*update.get("connect-src", []), origin]
            response._csp_update = update
        return response
