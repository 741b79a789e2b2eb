"""Per-Tech-Provider API rate limit: API_RATE_LIMIT_PER_S sustained, bursts of API_RATE_LIMIT_BURST.

A sliding-window counter in the shared cache (Redis in production): windows of burst / rate
seconds, each counted with an atomic INCR; a request is admitted while the previous window's count,
weighted by how much of it still overlaps the last window's length, plus the current count stays
within the burst. Refused requests are taken off the count again, so a client that keeps knocking
still gets its full rate. Over the limit: 429 with Retry-After, in the API's error shape.

This limits authenticated callers. The lockout after failed logins (onboarding/api/auth.py) is a
separate, stricter counter keyed by the claimed auth_id.
"""

import contextlib
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from onboarding.api.counters import counter_incr
from onboarding.api.errors import Throttled
from onboarding.models import TechProvider


def _key(tech_provider_pk: int, window: int) -> str:
    return f"ratelimit:tp:{tech_provider_pk}:{window}"


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


class TechProviderRateThrottle(BaseThrottle):
    """Admits at most API_RATE_LIMIT_PER_S requests a second per Tech Provider, bursts allowed."""

    timer = staticmethod(time.time)  # tests replace it

    def allow_request(self, request: Request, view: Any) -> bool:
        tech_provider = request.user
        rate = float(settings.API_RATE_LIMIT_PER_S)
        burst = int(settings.API_RATE_LIMIT_BURST)
        if not isinstance(tech_provider, TechProvider) or rate <= 0 or burst <= 0:
            return True
        window = burst / rate
        now = self.timer()
        index = int(now // window)
        elapsed = now - index * window
        current_key = _key(tech_provider.pk, index)
        current = counter_incr(current_key, ttl=math.ceil(2 * window) + 1)
        previous = int(cache.get(_key(tech_provider.pk, index - 1)) or 0)
        if previous * (1 - elapsed / window) + current <= burst:
            return True
        with contextlib.suppress(ValueError):  # the key expired meanwhile: nothing to take back
            cache.decr(current_key)
        wait = seconds_until_allowed(
            previous=previous, current=current - 1, elapsed=elapsed, window=window, burst=burst
        )
        retry_after = max(1, math.ceil(wait))
        raise Throttled(
            f"Rate limit exceeded: at most {rate:g} requests per second (bursts of {burst}). "
            f"Retry after {retry_after} seconds.",
            retry_after,
        )
