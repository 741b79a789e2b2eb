"""Log plumbing: JSON lines, the request/task ids bound to them, and a filter that removes secrets.

Every line carries the ids bound for the current request or Celery task: `request_id` (set by
config.middleware), `task_id` and `task` (set by config.celery's signals), and whatever other code
adds with `bind(auth_id=..., waba_id=...)`; `scrub(value)` hides a known secret of the request.
They live in one ContextVar, so threads and tasks never see each other's. Nothing here imports
Django: settings.LOGGING refers to it by path.
"""

import contextvars
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

REDACTED = "[REDACTED]"
# The ids a log line may carry, in the order the plain format prints them.
CONTEXT_FIELDS = ("request_id", "task_id", "task", "auth_id", "waba_id", "phone_number_id")


@dataclass(frozen=True)
class _Scope:
    ids: Mapping[str, str] = field(default_factory=dict)
    scrub: tuple[str, ...] = ()  # literal secrets of this request (e.g. a token in its path)


_context: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("log_scope", default=None)
ScopeToken = contextvars.Token[_Scope | None]


def _current() -> _Scope:
    return _context.get() or _Scope()


# ---------------------------------------------------------------- context


def bind(**ids: object) -> None:
    """Add ids to every later log line of the current request or task (None and "" are skipped)."""
    added = {name: str(value) for name, value in ids.items() if value not in (None, "")}
    if added:
        scope = _current()
        _context.set(replace(scope, ids={**scope.ids, **added}))


def bound() -> dict[str, str]:
    """The ids bound right now."""
    return dict(_current().ids)


def scrub(*secrets: str) -> None:
    """Replace these exact strings by [REDACTED] in every later line of this request or task."""
    kept = tuple(s for s in secrets if len(s) >= 4)  # shorter ones would blank out ordinary text
    if kept:
        scope = _current()
        _context.set(replace(scope, scrub=scope.scrub + kept))


def scope_open(**ids: object) -> ScopeToken:
    """Start a fresh scope (a request, a task) holding only these ids; close it with the token."""
    return _context.set(_Scope(ids={name: str(value) for name, value in ids.items() if value}))


def scope_close(token: ScopeToken) -> None:
    """End a scope: the ids bound and secrets registered in it, by whoever, are dropped."""
    try:
        _context.reset(token)
    except ValueError:  # the token came from another Context (a thread hop): just clear
        _context.set(None)


# ---------------------------------------------------------------- redaction

# Keys whose values are secret wherever they appear: `key=value`, `"key": "value"`, `key: value`.
_SECRET_KEY = r"[A-Za-z0-9_.-]*(?:token|secret|password|passwd|api_key|apikey)|pin"  # noqa: S105
_REDACTIONS: list[tuple[re.Pattern[str], str]] = [
    # Standard Webhooks signing secrets.
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), "whsec_" + REDACTED),
    # Meta access tokens (user, system user and business tokens all start with EAA).
    (re.compile(r"\bEAA[A-Za-z0-9]{20,}"), REDACTED),
    # OAuth parameters in URLs and form bodies; `code` and `pin` only as query parameters, so
    # Meta's numeric error `code=190` in our own log lines survives.
    (
        re.compile(
            r"\b((?:access_token|client_secret|input_token|fb_exchange_token|appsecret_proof)=)"
            r"[^&\s\"']+"
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"([?&](?:code|pin)=)[^&\s\"']+"), r"\1" + REDACTED),
    # Credentials in URLs: scheme://user:password@host.
    (
        re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", re.IGNORECASE),
        r"\1" + REDACTED + "@",
    ),
    # Values under secret-looking keys, quoted or not (dict reprs, JSON, key=value).
    (
        re.compile(
            rf"(?i)([\"']?\b(?:{_SECRET_KEY})[\"']?\s*[:=]\s*[\"']?)(?!{re.escape(REDACTED)})"
            r"[^\s\"',&}\]]+"
        ),
        r"\1" + REDACTED,
    ),
]


# Authorization header values: `Basic <base64>`, `Bearer <token>`. A credential has a digit, an
# upper-case letter or a base64 sign after its first character; "Basic authentication" has not.
_AUTH_VALUE = re.compile(r"\b(Basic|Bearer)(\s+)([A-Za-z0-9._~+/-]{12,}=*)", re.IGNORECASE)
_CREDENTIAL_LIKE = re.compile(r".[A-Za-z0-9._~+/-]*[A-Z0-9+/=]")


def _auth_value(match: re.Match[str]) -> str:
    scheme, space, value = match.groups()
    return f"{scheme}{space}{REDACTED}" if _CREDENTIAL_LIKE.match(value) else match.group(0)


def redact(text: str, scrubbed: tuple[str, ...] = ()) -> str:
    """The text with every known secret shape, and the scope's scrubbed strings, redacted."""
    for secret in _current().scrub + scrubbed:
        text = text.replace(secret, REDACTED)
    text = _AUTH_VALUE.sub(_auth_value, text)
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def is_secret_key(name: str) -> bool:
    """Whether values under this name are secret (token, secret, password, pin, ...)."""
    return re.fullmatch(rf"(?i)(?:{_SECRET_KEY})", name) is not None


def _redact_value(name: str, value: Any, scrubbed: tuple[str, ...]) -> Any:
    if is_secret_key(name):
        return REDACTED
    if isinstance(value, str):
        return redact(value, scrubbed)
    if isinstance(value, Mapping):
        return {str(k): _redact_value(str(k), v, scrubbed) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value("", v, scrubbed) for v in value]
    return value  # other objects (Django's `request`) stay usable; JsonFormatter redacts them


def _request_of(record: logging.LogRecord) -> Any:
    """The HttpRequest Django attaches to django.request lines; those are written after the
    request's middleware (and so its log scope) has finished."""
    return getattr(record, "request", None)


def _path_secrets(record: logging.LogRecord) -> tuple[str, ...]:
    match = getattr(_request_of(record), "resolver_match", None)
    kwargs = getattr(match, "kwargs", None) or {}
    return tuple(str(v) for k, v in kwargs.items() if v and is_secret_key(k) and len(str(v)) >= 4)


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    *CONTEXT_FIELDS,
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS}


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's message, traceback and extras so no known secret shape is written.

    It sits on the handlers, so it sees third-party records too. The message is formatted here
    (args folded in) because a secret often arrives as an argument.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        scrubbed = _path_secrets(record)
        record.msg = redact(record.getMessage(), scrubbed)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, scrubbed)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, scrubbed)
        for name, value in _extras(record).items():
            setattr(record, name, _redact_value(name, value, scrubbed))
        return True


class ContextFilter(logging.Filter):
    """Copies the bound ids onto the record when it is emitted, in the emitting thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(_request_of(record), "request_id", None)
        if request_id and not hasattr(record, "request_id"):
            record.request_id = request_id
        for name, value in _current().ids.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


# ---------------------------------------------------------------- formatters


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, the bound ids, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value:
                line[name] = value
        for name, value in _extras(record).items():
            line.setdefault(name, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        scrubbed = _path_secrets(record)
        return json.dumps(line, default=lambda o: redact(str(o), scrubbed), ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """Human-readable lines for development, with the bound ids appended as key=value pairs."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = [f"{n}={getattr(record, n)}" for n in CONTEXT_FIELDS if getattr(record, n, None)]
        if not ids:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{' '.join(ids)}]{newline}{rest}"
