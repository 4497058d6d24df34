"""The shared cache (Redis when REDIS_URL is set) as an optimisation only.

When the cache is unreachable, callers carry on as if it were empty: the state is
rendered again, the auth-failure limiter lets requests through (fails open). Each outage
is logged, at most once a minute per process, instead of turning requests into 500s.
"""

from __future__ import annotations

import logging
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
