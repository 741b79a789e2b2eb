"""The send limiter: GCRA per number and per (number, recipient), on Redis (shared by processes)
and on the database (the embedded default), with the rate each number gets."""

import multiprocessing
import time
from bisect import bisect_left
from typing import Any

import pytest
from django.conf import settings

from messaging.services.limiter import (
    DatabaseLimiter,
    RedisLimiter,
    number_key,
    number_rate,
    throughput_mps,
)

NUMBER = "444444444444444"
HEADROOM = float(settings.MESSAGE_THROUGHPUT_HEADROOM)


@pytest.fixture
def redis_limiter() -> RedisLimiter:
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL)")
    return RedisLimiter(settings.REDIS_URL)


def busiest_second(times: list[float]) -> int:
    """The most grants inside any one-second window."""
    times = sorted(times)
    return max((i - bisect_left(times, t - 1.0) + 1 for i, t in enumerate(times)), default=0)


def hammer(limiter: Any, mps: int, seconds: float, prefix: str = "") -> list[float]:
    """Ask as fast as possible for `seconds`, a new recipient each time; the grant times."""
    granted: list[float] = []
    deadline, n = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        n += 1
        grant = limiter.acquire(phone_number_id=NUMBER, wa_id=f"{prefix}{n}", mps=mps)
        if grant.allowed:
            granted.append(time.time())
        else:
            time.sleep(min(grant.wait_s, 0.01))
    return granted


def test_a_number_gets_its_rate_less_the_headroom_never_more(redis_limiter) -> None:
    granted = hammer(redis_limiter, mps=20, seconds=2.2)
    assert busiest_second(granted) <= 20 * HEADROOM + 1
    assert len(granted) >= 2 * 20 * HEADROOM  # and it is not just slow


def test_a_refusal_says_how_long_to_wait_and_which_limit(redis_limiter) -> None:
    assert redis_limiter.acquire(phone_number_id=NUMBER, wa_id="1", mps=20).allowed
    refused = redis_limiter.acquire(phone_number_id=NUMBER, wa_id="2", mps=20)
    assert not refused.allowed
    assert refused.limit == "number"
    assert 0 < refused.wait_s <= 1 / (20 * HEADROOM) + 0.01


def test_the_pair_rate_allows_a_burst_of_45_then_one_per_6_seconds(redis_limiter) -> None:
    grants = [
        redis_limiter.acquire(phone_number_id=NUMBER, wa_id="919800000001", mps=100000)
        for _ in range(46)
    ]
    assert [g.allowed for g in grants] == [True] * 45 + [False]
    assert grants[-1].limit == "pair"
    assert 5.5 < grants[-1].wait_s <= 6.0
    # the refusal used nothing of the number's rate: another recipient goes at once
    assert redis_limiter.acquire(phone_number_id=NUMBER, wa_id="919800000002", mps=100000).allowed


def test_a_penalty_holds_the_number_back(redis_limiter) -> None:
    redis_limiter.penalize(key=number_key(NUMBER), seconds=1.5)
    refused = redis_limiter.acquire(phone_number_id=NUMBER, wa_id="1", mps=80)
    assert not refused.allowed
    assert 1.3 < refused.wait_s <= 1.5


def test_penalties_at_once_hold_the_number_back_once_not_once_each(redis_limiter) -> None:
    number = f"4{time.time_ns() % 10**14:014d}"  # a key no other test has moved
    for _ in range(5):  # five 130429s answered together
        redis_limiter.penalize(key=number_key(number), seconds=1.0)
    refused = redis_limiter.acquire(phone_number_id=number, wa_id="1", mps=80)
    assert not refused.allowed
    assert 0.8 < refused.wait_s <= 1.0  # not 5 s
    redis_limiter.penalize(key=number_key(number), seconds=0.1)  # a shorter one shortens nothing
    assert redis_limiter.acquire(phone_number_id=number, wa_id="1", mps=80).wait_s > 0.8


def _child(url: str, mps: int, seconds: float, prefix: str, out: Any) -> None:
    out.put(hammer(RedisLimiter(url), mps, seconds, prefix))


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis")
def test_two_processes_together_stay_under_the_numbers_rate() -> None:
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    processes = [
        context.Process(target=_child, args=(settings.REDIS_URL, 20, 2.2, f"p{i}-", out))
        for i in range(2)
    ]
    for process in processes:
        process.start()
    results = [out.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert all(results)  # both processes were granted sends
    together = results[0] + results[1]
    assert busiest_second(together) <= 20 * HEADROOM + 1
    assert len(together) >= 2 * 20 * HEADROOM


# ---------------------------------------------------------------- the database limiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db_limiter(db: None, monkeypatch: pytest.MonkeyPatch) -> tuple[DatabaseLimiter, Clock]:
    clock = Clock()
    limiter = DatabaseLimiter()
    monkeypatch.setattr(limiter, "clock", clock)
    return limiter, clock


def test_the_database_limiter_paces_a_number(db_limiter, settings) -> None:
    settings.MESSAGE_THROUGHPUT_HEADROOM = 0.9
    limiter, clock = db_limiter
    start, granted, n = clock.now, 0, 0
    while clock.now < start + 2.0:  # ask again exactly when told to, for 2 s
        n += 1
        grant = limiter.acquire(phone_number_id=NUMBER, wa_id=str(n), mps=20)
        granted += grant.allowed
        clock.now += grant.wait_s if not grant.allowed else 0.0
    assert granted in (36, 37)  # at 0 s, then every 1/18 s: 20 less 10 % headroom


def test_the_database_limiter_keeps_the_pair_rate_and_penalties(db_limiter) -> None:
    limiter, clock = db_limiter
    grants = [limiter.acquire(phone_number_id=NUMBER, wa_id="9198", mps=100000) for _ in range(46)]
    assert sum(g.allowed for g in grants) == 45
    assert grants[-1].limit == "pair"
    clock.now += 6.0
    assert limiter.acquire(phone_number_id=NUMBER, wa_id="9198", mps=100000).allowed
    limiter.penalize(key=number_key(NUMBER), seconds=2.0)
    refused = limiter.acquire(phone_number_id=NUMBER, wa_id="other", mps=100000)
    assert (refused.allowed, refused.limit) == (False, "number")


def test_the_database_limiters_penalties_do_not_add_up(db_limiter) -> None:
    limiter, clock = db_limiter
    for _ in range(5):
        limiter.penalize(key=number_key(NUMBER), seconds=1.0)
    refused = limiter.acquire(phone_number_id=NUMBER, wa_id="1", mps=80)
    assert (refused.allowed, refused.limit) == (False, "number")
    assert refused.wait_s == pytest.approx(1.0 - number_rate(80).tolerance)
    clock.now += 1.0
    assert limiter.acquire(phone_number_id=NUMBER, wa_id="1", mps=80).allowed


# ---------------------------------------------------------------- the rate a number gets


def test_the_rate_is_the_override_else_what_meta_says() -> None:
    assert throughput_mps(is_coexistence=False, throughput_level="STANDARD", override=None) == 80
    assert throughput_mps(is_coexistence=True, throughput_level="", override=None) == 20
    assert throughput_mps(is_coexistence=False, throughput_level="HIGH", override=None) == 1000
    assert throughput_mps(is_coexistence=True, throughput_level="HIGH", override=5) == 5


def test_a_numbers_gcra_interval_and_burst(settings) -> None:
    settings.MESSAGE_THROUGHPUT_HEADROOM = 0.85
    assert (round(1 / number_rate(80).interval), number_rate(80).burst) == (68, 4)
    assert (round(1 / number_rate(20).interval), number_rate(20).burst) == (17, 1)
