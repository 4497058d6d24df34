"""Times that come from clients (cursors, page tokens) made safe for the database."""

from datetime import UTC, datetime


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC, or ValueError if it is naive or out of range once in UTC.

    Python accepts UTC offsets up to a day; PostgreSQL refuses those beyond 15:59
    ("time zone displacement out of range"), and 9999-12-31T23:59-23:59 is past year
    9999 in UTC. A time in UTC is one both understand.
    """
    if moment.tzinfo is None:
        raise ValueError("a time without a UTC offset")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("a time out of range") from None
