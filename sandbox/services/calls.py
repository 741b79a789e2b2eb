"""The call log: every request the Graph simulator received, with secrets masked."""

from datetime import datetime
from typing import Any

from sandbox.models import SandboxCall

# Parameter and response keys whose values are secrets: shown as "***" plus the last 4 chars.
SECRET_KEYS = frozenset(
    {
        "access_token",
        "client_secret",
        "code",
        "input_token",
        "fb_exchange_token",
        "pin",
        "verify_token",
    }
)
_MAX_TEXT = 2000


def mask(value: Any, key: str = "") -> Any:
    """A copy of `value` with every secret-keyed string masked, recursively."""
    if key in SECRET_KEYS and isinstance(value, str):
        return "***" if key in ("pin", "client_secret") or len(value) < 12 else "***" + value[-4:]
    if isinstance(value, dict):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(item) for item in value]
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        return value[:_MAX_TEXT] + "…"
    return value


def call_record(
    *,
    received_at: datetime,
    method: str,
    endpoint: str,
    path: str,
    version: str,
    object_id: str,
    params: dict[str, Any],
    token_kind: str,
    token_hint: str,
    status_code: int | None,
    response: Any,
    fbtrace_id: str,
    fault: str,
    duration_ms: int,
) -> SandboxCall:
    error = response.get("error") if isinstance(response, dict) else None
    return SandboxCall.objects.create(
        received_at=received_at,
        method=method,
        endpoint=endpoint,
        path=path[:500],
        version=version,
        object_id=object_id[:32],
        params=mask(params),
        token_kind=token_kind,
        token_hint=token_hint,
        status_code=status_code,
        error_code=error.get("code") if isinstance(error, dict) else None,
        error_subcode=error.get("error_subcode") if isinstance(error, dict) else None,
        response=mask(response),
        fbtrace_id=fbtrace_id,
        fault=fault,
        duration_ms=duration_ms,
    )
