"""Per-Tech-Provider API rate limit: API_RATE_LIMIT_PER_S sustained, bursts of API_RATE_LIMIT_BURST.

A sliding-window counter in the shared cache (Redis in production), keyed by auth_id: windows of
burst / rate seconds, each counted with an atomic INCR; a request is admitted while the previous
window's count, weighted by how much of it still overlaps the last window's length, plus the
current count stays within the burst. Refused requests are taken off the count again, so a
client that keeps knocking still gets its full rate. Over the limit: 429 with Retry-After, in the
API's error shape.

This limits authenticated callers. The lockout after failed logins (onboarding/api/auth.py) is a
separate, stricter counter keyed by the claimed auth_id.
"""

import math
import time
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from onboarding.api.counters import GateCounts, RateWindow, counter_decr, gate_counts
from onboarding.api.errors import Throttled
from onboarding.models import TechProvider


def _key(subject: str, window: int) -> str:
    return f"ratelimit:tp:{subject}:{window}"


def seconds_until_allowed(
    *, previous: int, current: int, elapsed: float, window: float, burst: int
) -> float:
    """How long until one more request fits, given the counts (the refused one not included)."""
    room = burst - current - 1  # what the previous window's weighted share must shrink to
    if previous > 0 and room >= 0:
        return max(0.0, window * (1 - room / previous) - elapsed)
    # Only a later window admits it; there `current` is the previous window's count.
    wait = window - elapsed
    if current > burst - 1:
        wait += window * (1 - (burst - 1) / current)
    return wait


def rate_window(auth_id: str) -> RateWindow | None:
    """Where a request of `auth_id` is counted now; None when the limit is off."""
    rate = float(settings.API_RATE_LIMIT_PER_S)
    burst = int(settings.API_RATE_LIMIT_BURST)
    if rate <= 0 or burst <= 0:
        return None
    length = burst / rate
    now = TechProviderRateThrottle.timer()
    index = int(now // length)
    return RateWindow(
        current_key=_key(auth_id, index),
        previous_key=_key(auth_id, index - 1),
        ttl=math.ceil(2 * length) + 1,
        elapsed=now - index * length,
        length=length,
    )


def _refuse(window: RateWindow, counts: GateCounts) -> Throttled:
    rate = float(settings.API_RATE_LIMIT_PER_S)
    burst = int(settings.API_RATE_LIMIT_BURST)
    counter_decr(window.current_key)  # a refused request does not count against the rate
    wait = seconds_until_allowed(
        previous=counts.previous,
        current=counts.current - 1,
        elapsed=window.elapsed,
        window=window.length,
        burst=burst,
    )
    retry_after = max(1, math.ceil(wait))
    return Throttled(
        f"Rate limit exceeded: at most {rate:g} requests per second (bursts of {burst}). "
        f"Retry after {retry_after} seconds.",
        retry_after,
    )


def rate_admit(counted: tuple[RateWindow, GateCounts]) -> None:
    """Admit a request counted in its window, or raise Throttled (and take the count back)."""
    window, counts = counted
    burst = int(settings.API_RATE_LIMIT_BURST)
    if counts.previous * (1 - window.elapsed / window.length) + counts.current <= burst:
        return
    raise _refuse(window, counts)


class TechProviderRateThrottle(BaseThrottle):
    """Admits at most API_RATE_LIMIT_PER_S requests a second per Tech Provider, bursts allowed.

    Basic auth (onboarding.api.auth) has usually counted the request already, in the same Redis
    round trip as its lockout check, and left the counts on the request; otherwise it is counted
    here.
    """

    timer = staticmethod(time.time)  # tests replace it

    def allow_request(self, request: Request, view: Any) -> bool:
        tech_provider = request.user
        if not isinstance(tech_provider, TechProvider):
            return True
        counted: tuple[RateWindow, GateCounts] | None = getattr(request, "rate_counted", None)
        if counted is None:
            window = rate_window(tech_provider.auth_id)
            if window is None:
                return True
            counted = window, gate_counts(failure_key=None, rate=window)
        rate_admit(counted)
        return True
