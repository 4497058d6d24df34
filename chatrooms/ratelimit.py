"""Per-user limits on what clients send (issue 9, #4; docs/api.md "Limits").

Per room and token subject, in fixed windows counted in the cache: messages
(``CHATROOM_SEND_RATE``), messages that carry a counter increment, "taps"
(``CHATROOM_INCREMENT_RATE``), and the total the taps add
(``CHATROOM_INCREMENT_VALUE_RATE``). With ``REDIS_URL`` set every process shares the
counts; otherwise each process counts its own. While the cache is unreachable the
limits let everything through (logged by ``chatrooms.caching``): an outage must not
silence a room. Slow mode, which must be exact, is kept in the database instead
(``services.messages_send``).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence

from django.conf import settings

from chatrooms import caching
from chatrooms.errors import ResourceExhausted


def _now() -> float:
    return time.time()


def _user_digest(room_id, user_id: str) -> str:
    return hashlib.sha256(f"{room_id}\x00{user_id}".encode()).hexdigest()[:32]


# kind -> (setting, reason, what is counted)
LIMITS = {
    "send": ("CHATROOM_SEND_RATE", "SEND_RATE_LIMITED", "messages"),
    "incr": ("CHATROOM_INCREMENT_RATE", "INCREMENT_RATE_LIMITED", "counter increments"),
    "incr_value": ("CHATROOM_INCREMENT_VALUE_RATE", "INCREMENT_VALUE_LIMITED", "added to counters"),
}


def _amount(kind: str, increment: int | None) -> int:
    if kind == "send":
        return 1 if increment is None else 0
    if kind == "incr":
        return 0 if increment is None else 1
    return increment or 0


def check(room_id, uses: Sequence[tuple[str, int | None]]) -> list[ResourceExhausted | None]:
    """For each message, in order, as (sender's user id, the increment it carries or
    None): None when it is within its sender's limits, else the error to refuse it
    with. Every message counts, refused ones included; one cache round trip per
    limit for the whole batch."""
    errors: list[ResourceExhausted | None] = [None] * len(uses)
    digests = {user_id: _user_digest(room_id, user_id) for user_id, _increment in uses}
    now = _now()
    for kind, (setting, _reason, _what) in LIMITS.items():
        rate = getattr(settings, setting)
        if rate is None:
            continue
        window = int(now // rate.seconds)
        retry_after = max(1, math.ceil((window + 1) * rate.seconds - now))
        keys = [f"chatrooms:rate:{kind}:{digests[user_id]}:{window}" for user_id, _i in uses]
        amounts = [_amount(kind, increment) for _user_id, increment in uses]
        batch: dict[str, int] = {}
        for key, amount in zip(keys, amounts, strict=True):
            if amount:
                batch[key] = batch.get(key, 0) + amount
        totals = caching.add_many(batch, timeout=retry_after + 1)
        if not totals:
            continue  # nothing of this kind, or the cache is away: fail open
        used = {key: totals[key] - amount for key, amount in batch.items()}
        for index, (key, amount) in enumerate(zip(keys, amounts, strict=True)):
            if not amount:
                continue
            used[key] += amount
            if used[key] > rate.count and errors[index] is None:
                errors[index] = _error(kind, rate, retry_after)
    return errors


def _error(kind: str, rate, retry_after: int) -> ResourceExhausted:
    _setting, reason, what = LIMITS[kind]
    if kind == "incr_value":
        message = f"A user may add at most {rate.count} to counters per {rate.seconds} seconds"
    else:
        message = f"Too many {what}: at most {rate.count} per {rate.seconds} seconds per user"
    return ResourceExhausted(
        f"{message}; try again in {retry_after} s.",
        reason=reason,
        retry_after_seconds=retry_after,
    )
