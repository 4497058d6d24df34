"""Request body parsing for the API: JSON, bounded, strict."""

import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser

from chatrooms.errors import ResourceExhausted


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class BoundedJSONMixin:
    """JSON bodies of at most CHATROOM_MAX_BODY_BYTES, in UTF-8, without NaN/Infinity.

    DRF streams the body straight into the JSON decoder, bypassing Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE, so the bound is applied here. Nesting too deep
    for the decoder is a 400 like any other malformed body.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.CHATROOM_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ResourceExhausted(
                f"The request body is larger than {limit} bytes.",
                reason="BODY_TOO_LARGE",
                http_status=413,
            )
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise ParseError("The body is not valid UTF-8.") from None
        except RecursionError:
            raise ParseError("The JSON is nested too deeply.") from None
        except ValueError as exc:
            raise ParseError(str(exc)) from None


class BoundedJSONParser(BoundedJSONMixin, JSONParser):
    """What the schema documents: application/json."""


class AnyContentTypeJSONParser(BoundedJSONMixin, BaseParser):
    """Reads the body as JSON whatever Content-Type says, as grpc-gateway does.

    ``curl -d '{...}'`` sends ``application/x-www-form-urlencoded``; upstream
    clients and docs rely on that working. A body that is not JSON is still a
    400 with code 3.
    """

    media_type = "*/*"
