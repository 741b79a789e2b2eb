"""The GraphError family: Meta's error envelope as exceptions, classified by `error.code`.

Meta's HTTP status is not a reliable classifier (throttling is HTTP 400, a bad token 401, some
permanent errors 500), so the class follows `error.code`; the status decides only when Meta sent
no envelope at all. Callers read `retryable`, `wait_long` and `outcome_unknown`, never codes.
Reference: https://developers.facebook.com/docs/graph-api/guides/error-handling
"""

import re
from typing import Any

import requests

# Retry with exponential backoff (meta-platform.md 7.2).
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 131057, 133004})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, 80007, 80008, 130429, 131056})
# Retry only after a long wait: how long, in seconds, where Meta or integrators say.
WAIT_LONG_SECONDS = {
    133016: 72 * 3600,  # 10 register/deregister calls per 72 h: blocked for 72 h
    133008: 12 * 3600,  # too many PIN guesses (third parties quote 12 h)
    133009: 3600,  # PIN entered too fast (third parties quote 1 h)
    133015: 600,  # a deleted number is still being processed (about 5 min)
    368: 24 * 3600,  # temporarily blocked for a policy violation
    131049: 24 * 3600,  # Meta chose not to deliver: do not resend for 24 h
}
AUTH_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({3, 10, *range(200, 300)})

# Secrets that can appear in a URL's query string (code exchange, debug_token) and so in the
# text of a requests exception; they are masked before any message is kept.
_SECRET_PARAM = re.compile(
    r"(access_token|client_secret|code|input_token|fb_exchange_token|pin)=[^&\s'\"]+",
    re.IGNORECASE,
)


def mask_secrets(text: str) -> str:
    """`text` with the values of secret query parameters replaced by `***`."""
    return _SECRET_PARAM.sub(r"\1=***", text)


class GraphError(Exception):
    """A failed Graph API call. Permanent unless a subclass says otherwise."""

    retryable = False
    wait_long = False
    # True when the call may have taken effect at Meta although we got no answer (a timeout, a
    # dropped connection, a 5xx without envelope): the caller must look before acting again.
    outcome_unknown = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        error_type: str = "",
        fbtrace_id: str = "",
        user_title: str = "",
        user_message: str = "",
        details: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.subcode = subcode
        self.error_type = error_type
        self.fbtrace_id = fbtrace_id
        self.user_title = user_title
        self.user_message = user_message
        self.details = details

    def __str__(self) -> str:
        code = f" (#{self.code})" if self.code is not None else ""
        return f"{self.message}{code}"

    @property
    def wait_seconds(self) -> int | None:
        """How long to wait before trying again, for wait-long errors."""
        return WAIT_LONG_SECONDS.get(self.code) if self.code is not None else None

    @classmethod
    def from_response(cls, response: requests.Response) -> "GraphError":
        """Build the right subclass from a non-2xx response, with or without Meta's envelope."""
        envelope = _envelope(response)
        if envelope is None:
            return _without_envelope(response)
        code = _int_or_none(envelope.get("code"))
        error_data = envelope.get("error_data")
        details = error_data.get("details", "") if isinstance(error_data, dict) else ""
        return error_class_for(code, response.status_code)(
            mask_secrets(str(envelope.get("message") or "Graph API error")),
            status=response.status_code,
            code=code,
            subcode=_int_or_none(envelope.get("error_subcode")),
            error_type=str(envelope.get("type") or ""),
            fbtrace_id=str(envelope.get("fbtrace_id") or ""),
            user_title=str(envelope.get("error_user_title") or ""),
            user_message=str(envelope.get("error_user_msg") or ""),
            details=str(details or ""),
        )

    @classmethod
    def from_exception(
        cls, exc: requests.RequestException, *, method: str, path: str
    ) -> "GraphError":
        """A network failure: no answer from Meta, so the outcome is unknown."""
        kind = "timed out" if isinstance(exc, requests.Timeout) else "failed"
        text = mask_secrets(str(exc))[:300]
        return GraphNetworkError(f"{method} {path} {kind}: {type(exc).__name__}: {text}")


class GraphAuthError(GraphError):
    """The token is expired, revoked or invalid (190, 102): re-authenticate, never retry."""


class GraphPermissionError(GraphError):
    """The token lacks a permission or the asset is not shared with us (3, 10, 200-299)."""


class GraphTransientError(GraphError):
    """Meta is briefly unavailable (1, 2, 131000, 133004, ...): retry with backoff."""

    retryable = True


class GraphRateLimitError(GraphTransientError):
    """A rate or throughput limit (4, 17, 80007, 130429, ... or HTTP 429): retry later."""


class GraphServerError(GraphTransientError):
    """A 5xx without Meta's envelope: a proxy or Meta itself failed; the call may have run."""

    outcome_unknown = True


class GraphNetworkError(GraphTransientError):
    """A timeout or connection error: no answer at all; the call may have run."""

    outcome_unknown = True


class GraphWaitError(GraphError):
    """Retry only after a long wait (133016, 133008, 133009, 368, ...); see `wait_seconds`."""

    wait_long = True


class GraphUnexpectedResponseError(GraphTransientError):
    """A 2xx answer we cannot read (not JSON, or missing a field we need)."""

    outcome_unknown = True


def error_class_for(code: int | None, status: int) -> type[GraphError]:
    """The GraphError subclass for Meta's `error.code` (the HTTP status only without a code)."""
    if code in RATE_LIMIT_CODES:
        return GraphRateLimitError
    if code in TRANSIENT_CODES:
        return GraphTransientError
    if code in WAIT_LONG_SECONDS:
        return GraphWaitError
    if code in AUTH_CODES:
        return GraphAuthError
    if code in PERMISSION_CODES:
        return GraphPermissionError
    if code is None and status == 429:
        return GraphRateLimitError
    if code is None and status >= 500:
        return GraphServerError
    return GraphError


def _envelope(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _without_envelope(response: requests.Response) -> GraphError:
    cls = error_class_for(None, response.status_code)
    reason = response.reason or "error"
    return cls(
        f"HTTP {response.status_code} {reason} without a Graph error body",
        status=response.status_code,
    )


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return None
