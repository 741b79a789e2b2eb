"""Log plumbing: JSON lines, the request/task ids bound to them, and a filter that removes secrets.

Every line carries the ids bound for the current request or Celery task: `request_id` (set by
config.middleware), `task_id` and `task` (set by config.celery's signals), and whatever other code
adds with `bind(auth_id=..., waba_id=...)`. The ids live in one ContextVar, so threads and tasks
never see each other's. Nothing here imports Django: settings.LOGGING refers to it by path.
"""

import contextvars
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

REDACTED = "[REDACTED]"
# The ids a log line may carry, in the order the plain format prints them.
CONTEXT_FIELDS = ("request_id", "task_id", "task", "auth_id", "waba_id", "phone_number_id")

_context: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "log_context", default=None
)


def _current() -> Mapping[str, str]:
    return _context.get() or {}


# ---------------------------------------------------------------- context


def bind(**ids: object) -> None:
    """Add ids to every later log line of the current request or task (None and "" are skipped)."""
    added = {name: str(value) for name, value in ids.items() if value not in (None, "")}
    if added:
        _context.set({**_current(), **added})


def bound() -> dict[str, str]:
    """The ids bound right now."""
    return dict(_current())


def scope_open(**ids: object) -> contextvars.Token[Mapping[str, str] | None]:
    """Start a fresh scope (a request, a task) holding only these ids; close it with the token."""
    return _context.set({name: str(value) for name, value in ids.items() if value})


def scope_close(token: contextvars.Token[Mapping[str, str] | None]) -> None:
    """End a scope: the ids bound in it, by whoever, are dropped."""
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


def redact(text: str) -> str:
    """The text with every known secret shape replaced by [REDACTED]."""
    text = _AUTH_VALUE.sub(_auth_value, text)
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def _is_secret_key(name: str) -> bool:
    return re.fullmatch(rf"(?i)(?:{_SECRET_KEY})", name) is not None


def _redact_value(name: str, value: Any) -> Any:
    if _is_secret_key(name):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value("", v) for v in value]
    return value


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
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in _extras(record).items():
            setattr(record, name, _redact_value(name, value))
        return True


class ContextFilter(logging.Filter):
    """Copies the bound ids onto the record when it is emitted, in the emitting thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _current().items():
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
        return json.dumps(line, default=str, ensure_ascii=False)


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
