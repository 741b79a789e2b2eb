"""Per-Tech-Provider API rate limit: bursts, the sustained rate, 429 + Retry-After, isolation."""

import math
from typing import Any

import pytest
from rest_framework.test import APIClient

from onboarding.api.errors import Throttled
from onboarding.api.throttling import TechProviderRateThrottle, seconds_until_allowed
from tests.conftest import Account


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(TechProviderRateThrottle, "timer", staticmethod(clock))
    return clock


@pytest.fixture
def limit(settings: Any) -> tuple[float, int]:
    settings.API_RATE_LIMIT_PER_S = 5.0
    settings.API_RATE_LIMIT_BURST = 5
    return 5.0, 5


def client_for(account: Account) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=account.basic)
    return client


def test_a_burst_over_the_limit_gets_429_with_retry_after(
    api: APIClient, account: Account, clock: Clock, limit: Any
) -> None:
    answers = [api.get(account.url()) for _ in range(6)]

    assert [a.status_code for a in answers] == [200] * 5 + [429]
    refused = answers[-1]
    assert set(refused.json()) == {"api_id", "error"}
    assert refused.json()["error"].startswith("Rate limit exceeded: at most 5 requests per second")
    retry_after = int(refused["Retry-After"])
    assert retry_after >= 1

    clock.now += retry_after
    assert api.get(account.url()).status_code == 200


def test_one_tech_provider_does_not_use_up_anothers_limit(
    api: APIClient, account: Account, other_account: Account, clock: Clock, limit: Any
) -> None:
    for _ in range(5):
        api.get(account.url())
    assert api.get(account.url()).status_code == 429

    assert client_for(other_account).get(other_account.url()).status_code == 200


def test_failed_logins_do_not_count_against_the_rate(
    api: APIClient, account: Account, clock: Clock, limit: Any
) -> None:
    intruder = APIClient()
    intruder.credentials(HTTP_AUTHORIZATION="Basic " + "TUFYWFhYWFhYWFhYWFhYWFhYWFg6bm9wZQ==")
    for _ in range(5):
        assert intruder.get(account.url()).status_code == 401

    assert [api.get(account.url()).status_code for _ in range(5)] == [200] * 5


def test_the_limit_applies_to_writes_too(
    api: APIClient, account: Account, clock: Clock, limit: Any
) -> None:
    answers = [api.post(account.url(), {}, format="json") for _ in range(6)]

    assert [a.status_code for a in answers] == [400] * 5 + [429]


def test_a_zero_rate_turns_the_limit_off(
    api: APIClient, account: Account, clock: Clock, settings: Any
) -> None:
    settings.API_RATE_LIMIT_PER_S = 0
    settings.API_RATE_LIMIT_BURST = 1

    assert {api.get(account.url()).status_code for _ in range(5)} == {200}


class FakeRequest:
    def __init__(self, user: Any) -> None:
        self.user = user


def test_sustained_traffic_is_held_to_the_rate_and_retry_after_is_honest(
    account: Account, clock: Clock, settings: Any
) -> None:
    """Knocks 40 times a second for 20 simulated seconds against 10/s, bursts of 20."""
    settings.API_RATE_LIMIT_PER_S = 10.0
    settings.API_RATE_LIMIT_BURST = 20
    throttle = TechProviderRateThrottle()
    request = FakeRequest(account.tech_provider)
    admitted = 0
    promised_at: float | None = None
    for _ in range(20 * 40):
        clock.now += 1 / 40
        try:
            throttle.allow_request(request, None)  # type: ignore[arg-type]
        except Throttled as refused:
            promised_at = promised_at or clock.now + refused.retry_after
        else:
            if promised_at is not None:
                assert clock.now <= promised_at + 1 / 40  # admitted by the promised time
                promised_at = None
            admitted += 1

    # At most the rate plus one burst; at least 90 % of the rate (the sliding window is an
    # estimate, and it rounds down at each window's end).
    assert 0.9 * 10 * 20 <= admitted <= 10 * 20 + 20


@pytest.mark.parametrize(
    ("previous", "current", "elapsed", "expected"),
    [
        (0, 5, 0.2, 1.0),  # full window: in the next one, these 5 must age out by 1/5 first
        (5, 0, 0.0, 0.2),  # previous full: 1/5 of it must age out
        (5, 2, 0.5, 0.1),  # 5*(1-e) + 3 <= 5 -> e >= 0.6
        (0, 9, 0.0, 1.0 + 0.5555),  # an over-full window weighs on the next one
    ],
)
def test_seconds_until_allowed(
    previous: int, current: int, elapsed: float, expected: float
) -> None:
    wait = seconds_until_allowed(
        previous=previous, current=current, elapsed=elapsed, window=1.0, burst=5
    )

    assert math.isclose(wait, expected, abs_tol=1e-3)
