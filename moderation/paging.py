"""Keyset cursors in URLs: a page's boundary row key as an opaque string.

A cursor is the row's sort key, JSON-encoded and base64url'd. A cursor that
does not decode (edited by hand, or from an older sort) is treated as absent,
so the moderator lands on the first page rather than on an error.
"""

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models

from chatrooms.timestamps import as_utc

# Ours are a time and an id, about 100 characters; anything much longer is not one.
MAX_CURSOR_LENGTH = 512


def encode_cursor(values: Sequence | None) -> str:
    if values is None:
        return ""
    raw = json.dumps([None if v is None else str(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, model: type[models.Model], order: Sequence[str]) -> tuple | None:
    """The typed sort key of ``order`` from a cursor, or None if it is not one."""
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(raw, list) or len(raw) != len(order):
            return None
        return tuple(
            _checked(model._meta.get_field(name.lstrip("-")), value)
            for name, value in zip(order, raw, strict=True)
        )
    except (
        ValueError,
        TypeError,
        RecursionError,  # "[[[[..." nested past the JSON decoder's depth
        binascii.Error,
        ValidationError,
        UnicodeDecodeError,
    ):
        return None


def _checked(field: models.Field, value):
    """A cursor value the database can compare against: of the field's type, null only
    where the field is, and a time in range (chatrooms.timestamps.as_utc)."""
    if value is None:
        if not field.null:
            raise ValueError("null in a cursor for a non-null field")
        return None
    if not isinstance(value, str | int | float):
        raise ValueError("not a scalar")
    typed = field.to_python(value)
    if isinstance(typed, datetime):
        return as_utc(typed)
    if isinstance(typed, str) and "\x00" in typed:
        raise ValueError("a NUL character")
    return typed
