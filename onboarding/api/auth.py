"""HTTP Basic auth for Tech Providers, with an atomic per-auth_id failure throttle.

Every failure (no header, a malformed one, an unknown auth_id, a wrong token, a path auth_id that
is not the caller's) raises the same AuthenticationFailed, so all 401 bodies are alike and say
nothing about which part was wrong. Failures are counted per claimed auth_id in the cache (an
atomic INCR on Redis); past the limit every request for that auth_id gets 429 until the window
ends, the right token included, so a token cannot be guessed by brute force.
"""

import base64
import binascii
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from config.logging import bind
from onboarding import crypto, selectors
from onboarding.api.counters import (
    GateCounts,
    RateWindow,
    counter_decr,
    counter_incr,
    gate_counts,
)
from onboarding.api.errors import Throttled
from onboarding.api.throttling import rate_window
from onboarding.models import AUTH_ID_REGEX, TechProvider

_AUTH_ID = re.compile(AUTH_ID_REGEX)
RateCounted = tuple[RateWindow, GateCounts]
# Hash compared against when the auth_id is unknown, so both paths cost the same.
_DUMMY_HASH = crypto.token_hash("x" * 40)


def _window() -> tuple[int, int]:
    """The current fixed window's index and the seconds left in it."""
    size = int(settings.API_AUTH_FAILURE_WINDOW_S)
    now = time.time()
    return int(now // size), max(1, math.ceil(size - now % size))


def _failure_key(auth_id: str, window: int) -> str:
    return f"authfail:{auth_id}:{window}"


def _record_failure(auth_id: str) -> None:
    window, _ = _window()
    counter_incr(_failure_key(auth_id, window), ttl=settings.API_AUTH_FAILURE_WINDOW_S + 5)


def _take_back(rate: RateWindow | None) -> None:
    if rate is not None:
        counter_decr(rate.current_key)


def _parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    auth_id, sep, token = decoded.partition(":")
    return (auth_id, token) if sep else None


@dataclass(frozen=True)
class Gate:
    """A request past the lockout check: its credentials, and its rate count when plausible."""

    credentials: tuple[str, str] | None
    path_auth_id: str
    throttle_key: str
    counted: RateCounted | None

    @property
    def readable_auth_id(self) -> str | None:
        """The auth_id whose Tech Provider must be read to check the token (None: fails anyway)."""
        if self.credentials is None or not _AUTH_ID.match(self.credentials[0]):
            return None
        return self.credentials[0]


def auth_gate(*, header: str, path_auth_id: str) -> Gate:
    """Parse `Authorization: Basic auth_id:auth_token`; refuse a locked-out auth_id (Throttled).

    The lockout count is read, and a request that may succeed is counted for the rate limit
    (onboarding.api.throttling), in one round trip to the cache.
    """
    credentials = _parse_basic(header)
    claimed = credentials[0] if credentials else path_auth_id
    throttle_key = claimed[:20] if _AUTH_ID.match(claimed[:20]) else "malformed"
    plausible = credentials is not None and claimed == path_auth_id == throttle_key
    rate = rate_window(claimed) if plausible else None
    window, left = _window()
    counts = gate_counts(failure_key=_failure_key(throttle_key, window), rate=rate)
    if counts.failures >= settings.API_AUTH_FAILURE_LIMIT:
        _take_back(rate)
        raise Throttled(
            f"Too many failed authentication attempts. Retry after {left} seconds.", left
        )
    counted = (rate, counts) if rate is not None else None
    return Gate(credentials, path_auth_id, throttle_key, counted)


def auth_verify(gate: Gate, found: TechProvider | None) -> TechProvider:
    """`found` (read for gate.readable_auth_id) if the token is its own, it is active and it is
    the path's; otherwise the rate count is taken back, the failure counted, and 401 raised."""
    token = gate.credentials[1] if gate.credentials else ""
    expected = found.auth_token_hash if found else _DUMMY_HASH  # both paths cost the same
    matches = crypto.tokens_equal(crypto.token_hash(token), expected)
    if found is None or not matches or not found.is_active or found.auth_id != gate.path_auth_id:
        _take_back(gate.counted[0] if gate.counted else None)
        _record_failure(gate.throttle_key)
        raise exceptions.AuthenticationFailed()
    bind(auth_id=found.auth_id)
    return found


def basic_auth_check(*, header: str, path_auth_id: str) -> tuple[TechProvider, RateCounted | None]:
    """The Tech Provider that the Authorization header names for this path, and its rate count
    for the throttle to judge (None when the limit is off). Raises Throttled or
    AuthenticationFailed."""
    gate = auth_gate(header=header, path_auth_id=path_auth_id)
    auth_id = gate.readable_auth_id
    found = selectors.tech_provider_for_auth(auth_id) if auth_id else None
    return auth_verify(gate, found), gate.counted


class TechProviderBasicAuthentication(authentication.BaseAuthentication):
    """DRF's face of basic_auth_check: the path's auth_id, and the counts left on the request."""

    def authenticate(self, request: Request) -> tuple[TechProvider, None]:
        tech_provider, counted = basic_auth_check(
            header=request.META.get("HTTP_AUTHORIZATION", ""),
            path_auth_id=str(request.parser_context["kwargs"].get("auth_id", "")),
        )
        if counted is not None:
            request.rate_counted = counted  # type: ignore[attr-defined]
        return tech_provider, None

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="api"'


def tech_provider_of(request: Any) -> TechProvider:
    """The authenticated Tech Provider of an API request."""
    user = request.user
    if not isinstance(user, TechProvider):  # only reachable if a view forgot its auth class
        raise exceptions.NotAuthenticated()
    return user
