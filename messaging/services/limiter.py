"""The send limiter every worker shares: each number's throughput and Meta's pair rate.

Both limits are GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp per
key, the "theoretical arrival time"): a send is allowed when the key's TAT is at most its burst
tolerance ahead of now, and then moves the TAT one interval on. Both keys of a send are checked
and moved in one atomic step, so a send refused by the pair rate does not use up the number's
rate. Redis holds the TATs when a Redis URL is configured (a Lua script, timed by the Redis
server's own clock, so workers on several machines agree); without Redis (the embedded default)
a database row per key does, under a row lock.

Per number: rate = its throughput (messages per second) times MESSAGE_THROUGHPUT_HEADROOM (0.85),
with a burst of 5 % of the rate (at least 1). In any second at most 0.85 r + 0.05 r sends are
allowed, which leaves a margin for jitter between our grant and Meta's count: Meta counts
arrivals, and a send granted at the end of one second may arrive in the next.
Per (number, recipient): one per MESSAGE_PAIR_INTERVAL_S, bursts of MESSAGE_PAIR_BURST.
"""

import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce, NullIf

from messaging.models import SendRate

_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function due(key, interval, tolerance)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local wait = tat - tolerance - now
  if wait > 0 then return nil, wait end
  return tat + interval, 0
end
local pair_tat, pair_wait = due(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
if not pair_tat then return {0, tostring(pair_wait), 'pair'} end
local num_tat, num_wait = due(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
if not num_tat then return {0, tostring(num_wait), 'number'} end
redis.call('SET', KEYS[1], tostring(num_tat), 'PX', math.ceil((num_tat - now) * 1000) + 1000)
redis.call('SET', KEYS[2], tostring(pair_tat), 'PX', math.ceil((pair_tat - now) * 1000) + 1000)
return {1, '0', ''}
"""
_PENALTY_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local held = now + tonumber(ARGV[1])
if tat < held then tat = held end
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
return tostring(tat - now)
"""


@dataclass(frozen=True)
class Rate:
    """A GCRA limit: one send per `interval` seconds, `burst` at once."""

    interval: float
    burst: int

    @property
    def tolerance(self) -> float:
        return (self.burst - 1) * self.interval


@dataclass(frozen=True)
class Grant:
    allowed: bool
    wait_s: float = 0.0  # when refused: seconds until the refusing limit allows one more
    limit: str = ""  # which refused: "number" or "pair"


def throughput_mps(*, is_coexistence: bool, throughput_level: str, override: int | None) -> int:
    """A number's messages per second: staff's override, else what Meta says it has."""
    if override:
        return override
    if is_coexistence:
        return int(settings.MESSAGE_THROUGHPUT_COEXISTENCE_MPS)
    if throughput_level.upper() == "HIGH":
        return int(settings.MESSAGE_THROUGHPUT_HIGH_MPS)
    return int(settings.MESSAGE_THROUGHPUT_DEFAULT_MPS)


def throughput_mps_expression(number: str) -> Coalesce:
    """throughput_mps as a database expression, for a query over rows with a PhoneNumber at
    `number` (a lookup path, e.g. "sender"); the two must agree (tests check they do)."""
    return Coalesce(
        NullIf(F(f"{number}__messaging_health__mps_override"), Value(0)),
        Case(
            When(
                **{f"{number}__is_coexistence": True},
                then=Value(int(settings.MESSAGE_THROUGHPUT_COEXISTENCE_MPS)),
            ),
            When(
                **{f"{number}__throughput_level__iexact": "HIGH"},
                then=Value(int(settings.MESSAGE_THROUGHPUT_HIGH_MPS)),
            ),
            default=Value(int(settings.MESSAGE_THROUGHPUT_DEFAULT_MPS)),
        ),
    )


def number_rate(mps: int) -> Rate:
    effective = max(0.1, mps * float(settings.MESSAGE_THROUGHPUT_HEADROOM))
    return Rate(interval=1.0 / effective, burst=max(1, math.floor(mps * 0.05)))


def pair_rate() -> Rate:
    return Rate(
        interval=float(settings.MESSAGE_PAIR_INTERVAL_S), burst=int(settings.MESSAGE_PAIR_BURST)
    )


def number_key(phone_number_id: str) -> str:
    return f"msglimit:num:{phone_number_id}"


def pair_key(phone_number_id: str, wa_id: str) -> str:
    return f"msglimit:pair:{phone_number_id}:{wa_id}"


class Limiter(Protocol):
    def acquire(self, *, phone_number_id: str, wa_id: str, mps: int) -> Grant: ...

    def penalize(self, *, key: str, seconds: float) -> None: ...


class RedisLimiter:
    """The TATs in Redis, checked and moved by one Lua script per send."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url)
        self._acquire = self._redis.register_script(_GCRA_LUA)
        self._penalty = self._redis.register_script(_PENALTY_LUA)

    def acquire(self, *, phone_number_id: str, wa_id: str, mps: int) -> Grant:
        number, pair = number_rate(mps), pair_rate()
        keys = [number_key(phone_number_id), pair_key(phone_number_id, wa_id)]
        args = [number.interval, number.tolerance, pair.interval, pair.tolerance]
        allowed, wait, limit = self._acquire(keys=keys, args=args)
        return Grant(bool(int(allowed)), float(wait), limit.decode() if limit else "")

    def penalize(self, *, key: str, seconds: float) -> None:
        """Hold a key back until `seconds` from now (Meta said we went too fast); several
        refusals at once hold it back as long as one does, not once each."""
        self._penalty(keys=[key], args=[seconds])


class DatabaseLimiter:
    """The TATs in SendRate rows, under row locks (SQLite serialises writers instead)."""

    clock = staticmethod(time.time)  # tests replace it

    @staticmethod
    def _rows(keys: list[str]) -> dict[str, SendRate]:
        for key in keys:
            SendRate.objects.get_or_create(key=key)
        rows = SendRate.objects.select_for_update().filter(key__in=keys).order_by("key")
        return {row.key: row for row in rows}

    def acquire(self, *, phone_number_id: str, wa_id: str, mps: int) -> Grant:
        number_k, pair_k = number_key(phone_number_id), pair_key(phone_number_id, wa_id)
        with transaction.atomic():
            rows = self._rows([number_k, pair_k])
            now = self.clock()
            tats: dict[str, float] = {}
            for key, rate, name in (
                (pair_k, pair_rate(), "pair"),
                (number_k, number_rate(mps), "number"),
            ):
                tat = max(rows[key].tat, now)
                wait = tat - rate.tolerance - now
                if wait > 0:
                    return Grant(False, wait, name)
                tats[key] = tat + rate.interval
            for key, tat in tats.items():
                SendRate.objects.filter(key=key).update(tat=tat)
        return Grant(True)

    def penalize(self, *, key: str, seconds: float) -> None:
        with transaction.atomic():
            row = self._rows([key])[key]
            SendRate.objects.filter(key=key).update(tat=max(row.tat, self.clock() + seconds))


_lock = threading.Lock()
_limiters: dict[str, Limiter] = {}


def limiter_get() -> Limiter:
    """This process's limiter: Redis when MESSAGE_LIMITER_REDIS_URL is set, else the database."""
    url = str(settings.MESSAGE_LIMITER_REDIS_URL or "")
    with _lock:
        limiter = _limiters.get(url)
        if limiter is None:
            limiter = RedisLimiter(url) if url else DatabaseLimiter()
            _limiters[url] = limiter
        return limiter
