"""Signed, expiring tokens in links: a report's download, a dictionary's CSV, a sticker's
upload. The token carries a value signed with the project's secret (django.core.signing,
salted for each use) and the time it was signed."""

from __future__ import annotations

from django.core import signing


class LinkExpired(Exception):
    pass


class LinkInvalid(Exception):
    pass


def sign(value: str, *, salt: str) -> str:
    return signing.TimestampSigner(salt=salt).sign(value)


def unsign(token: str, *, salt: str, max_age: float) -> str:
    """The value ``token`` carries, or LinkExpired / LinkInvalid."""
    try:
        return signing.TimestampSigner(salt=salt).unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise LinkExpired from None
    except signing.BadSignature:
        raise LinkInvalid from None
