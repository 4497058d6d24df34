"""Keyset cursors in URLs: a page's boundary row key as an opaque string.

A cursor is the row's sort key, JSON-encoded and base64url'd. A cursor that
does not decode (edited by hand, or from an older sort) is treated as absent,
so the moderator lands on the first page rather than on an error.
"""

import base64
import binascii
import json
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import models


def encode_cursor(values: Sequence | None) -> str:
    if values is None:
        return ""
    raw = json.dumps([None if v is None else str(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, model: type[models.Model], order: Sequence[str]) -> tuple | None:
    """The typed sort key of ``order`` from a cursor, or None if it is not one."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(raw, list) or len(raw) != len(order):
            return None
        return tuple(
            model._meta.get_field(name.lstrip("-")).to_python(value)
            for name, value in zip(order, raw, strict=True)
        )
    except (ValueError, TypeError, binascii.Error, ValidationError, UnicodeDecodeError):
        return None
