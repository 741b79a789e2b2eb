"""Windowed counters in the shared cache (atomic INCR on Redis), for the API's throttles.

Every authenticated request needs three counts: its auth_id's failed logins in this window (the
lockout), and the current and previous windows of its rate limit, this request counted. On Redis
`gate_counts` reads and counts them in one pipelined round trip; other caches (the embedded
default's per-process memory) go through the cache API, which is exact within one process.
"""

import contextlib
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from redis.commands.core import Script


@dataclass(frozen=True)
class RateWindow:
    """Where a request is counted for the rate limit, and where in the window it falls."""

    current_key: str
    previous_key: str
    ttl: int
    elapsed: float  # seconds since the current window began
    length: float  # seconds


@dataclass(frozen=True)
class GateCounts:
    failures: int
    current: int  # the request itself included
    previous: int


def counter_incr(key: str, *, ttl: int) -> int:
    """Add one to `key`, creating it with `ttl` seconds to live; return the new count.

    The key usually exists, so INCR comes first; a missing key is created with ADD (set if
    absent), and losing that race to another request just means incrementing theirs.
    """
    try:
        return int(cache.incr(key))
    except ValueError:
        if cache.add(key, 1, timeout=ttl):
            return 1
        return int(cache.incr(key))


def counter_decr(key: str) -> None:
    """Take one back from `key` (a request that was not admitted); gone already: nothing to do."""
    with contextlib.suppress(ValueError):
        cache.decr(key)


# One round trip, one command: the failures, and with a rate window the request counted in it
# (INCR, and EXPIRE when that created the key) and the previous window's count.
_GATE = Script(
    None,  # type: ignore[arg-type]  # a bytes script needs no client to be hashed
    b"""
    local failures = redis.call('GET', KEYS[1]) or 0
    if #KEYS == 1 then return {failures, 0, 0} end
    local current = redis.call('INCR', KEYS[2])
    if current == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
    return {failures, current, redis.call('GET', KEYS[3]) or 0}
    """,
)


def _redis() -> Any:
    client = getattr(cache, "redis_client", None)  # config.cache.ReusingRedisCache
    return client() if client else None


def _count(value: Any) -> int:
    return int(value) if value is not None else 0


def gate_counts(*, failure_key: str | None, rate: RateWindow | None) -> GateCounts:
    """The failures under `failure_key`, and (with `rate`) the request counted in its window."""
    client = _redis()
    if client is None:
        failures = _count(cache.get(failure_key)) if failure_key else 0
        if rate is None:
            return GateCounts(failures, 0, 0)
        current = counter_incr(rate.current_key, ttl=rate.ttl)
        return GateCounts(failures, current, _count(cache.get(rate.previous_key)))
    keys = [cache.make_and_validate_key(failure_key or "-")]
    if rate is not None:
        keys += [cache.make_and_validate_key(k) for k in (rate.current_key, rate.previous_key)]
    found = _GATE(keys=keys, args=[rate.ttl if rate else 0], client=client)
    failures, current, previous = (int(v) for v in found)
    return GateCounts(failures if failure_key else 0, current, previous)
