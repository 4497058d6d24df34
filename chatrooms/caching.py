"""The shared cache (Redis when REDIS_URL is set) as an optimisation only.

When the cache is unreachable, callers carry on as if it were empty: the state is
rendered again, the auth-failure limiter lets requests through (fails open). Each outage
is logged, at most once a minute per process, instead of turning requests into 500s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

try:  # the redis client is a dependency, but the cache may be another backend
    from redis.exceptions import RedisError as _BackendError
except ImportError:  # pragma: no cover
    _BackendError = OSError

UNAVAILABLE = (_BackendError, ConnectionError, TimeoutError, OSError)
LOG_INTERVAL_SECONDS = 60
_last_logged = 0.0


def _unavailable(exc: Exception) -> None:
    global _last_logged
    if time.monotonic() - _last_logged > LOG_INTERVAL_SECONDS:
        _last_logged = time.monotonic()
        logger.warning("the cache is unreachable (%s); carrying on without it", exc)


def get(key: str, default=None):
    try:
        return cache.get(key, default)
    except UNAVAILABLE as exc:
        _unavailable(exc)
        return default


def set(key: str, value, timeout: float | None) -> None:
    try:
        cache.set(key, value, timeout)
    except UNAVAILABLE as exc:
        _unavailable(exc)


def count(key: str, timeout: float) -> int:
    """Add one to a counter that lives ``timeout`` seconds from its first count; the
    new count, or 0 while the cache is unreachable."""
    try:
        cache.add(key, 0, timeout=timeout)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=timeout)
            return 1
    except UNAVAILABLE as exc:
        _unavailable(exc)
        return 0


# Redis: add to each counter, and give the ones this call created their lifetime; one
# command for the whole batch, run atomically by the server.
_ADD_MANY_SCRIPT = """
local totals = {}
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
  local total = redis.call('INCRBY', key, ARGV[i])
  if total == tonumber(ARGV[i]) then redis.call('EXPIRE', key, ttl) end
  totals[i] = total
end
return totals
"""


def add_many(amounts: Mapping[str, int], timeout: int) -> dict[str, int] | None:
    """Add to counters that live ``timeout`` seconds from their first count; the new
    totals, or None while the cache is unreachable.

    With Redis, one round trip for them all (a Lua script); other backends add one by
    one.
    """
    if not amounts:
        return {}
    try:
        backend = caches["default"]
        if isinstance(backend, RedisCache):
            client = backend._cache.get_client(write=True)
            keys = [backend.make_key(key) for key in amounts]  # ours: short and ASCII
            totals = client.eval(
                _ADD_MANY_SCRIPT, len(keys), *keys, *amounts.values(), int(timeout)
            )
            return dict(zip(amounts, totals, strict=True))
        totals = {}
        for key, amount in amounts.items():
            if cache.add(key, amount, timeout=timeout):
                totals[key] = amount
                continue
            try:
                totals[key] = cache.incr(key, amount)
            except ValueError:  # expired between add and incr
                cache.set(key, amount, timeout=timeout)
                totals[key] = amount
        return totals
    except UNAVAILABLE as exc:
        _unavailable(exc)
        return None


class PerVersion:
    """Values computed from a room's rows at one version of the room (``state_version``,
    ``revocation_version``), kept in this process: at most one per room, the newest asked
    for, for at most ``rooms`` rooms and ``max_bytes`` of values (callers give each value's
    size). A request asks with the version it has just read from the room row, so what it
    gets was computed from rows read after that version was current: never older than the
    request's own read of the room. A value may also end at a wall-clock time (``until``,
    seconds since the epoch: a timed block's end changes the state without a write).

    Unlike the shared cache, a hit costs no unpickling and no copy: a megabyte-sized
    rendering is served as the same bytes object to every request."""

    def __init__(self, *, rooms: int, max_bytes: int = 0):
        self.rooms, self.max_bytes = rooms, max_bytes
        self._entries: dict = {}  # key -> (version, value, until, size); oldest first
        self._bytes = 0
        self._lock = threading.Lock()
        _per_version.append(self)

    def get(self, key, version: int):
        entry = self._entries.get(key)
        if entry is None or entry[0] != version:
            return None
        if entry[2] is not None and time.time() >= entry[2]:
            return None
        return entry[1]

    def set(self, key, version: int, value, *, until: float | None = None, size: int = 0):
        if self.max_bytes and size > self.max_bytes // 4:
            return  # too big to keep here; the shared cache still has it
        with self._lock:
            current = self._entries.pop(key, None)
            if current is not None:
                self._bytes -= current[3]
                if current[0] > version:  # a request that read a newer version stored it
                    value, version, until, size = current[1], current[0], current[2], current[3]
            self._entries[key] = (version, value, until, size)
            self._bytes += size
            while len(self._entries) > self.rooms or (
                self.max_bytes and self._bytes > self.max_bytes
            ):
                oldest = next(iter(self._entries))
                self._bytes -= self._entries.pop(oldest)[3]

    def forget(self, room_id) -> None:
        self.forget_many({room_id})

    def forget_many(self, room_ids: set) -> None:
        with self._lock:
            stale = [
                key
                for key in self._entries
                if key in room_ids or (isinstance(key, tuple) and key[0] in room_ids)
            ]
            for key in stale:
                self._bytes -= self._entries.pop(key)[3]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


_per_version: list[PerVersion] = []


def forget_room(room_id) -> None:
    """Drop what this process keeps of a room at any version: run after a commit that
    changed it, so that a caller still holding the room object read before the change
    (its old version) reads the rows again instead of reusing what that version had."""
    for values in _per_version:
        values.forget(room_id)


def forget_rooms(room_ids) -> None:
    """``forget_room`` for many rooms in one pass over what this process keeps."""
    room_ids = set(room_ids)
    for values in _per_version:
        values.forget_many(room_ids)
