"""Signatures: Meta's X-Hub-Signature-256 on the way in, Standard Webhooks v1 on the way out.

Inbound: HMAC-SHA256 of the raw body bytes (never re-serialised JSON) with the app secret,
compared in constant time against every configured secret, so a secret can be rotated.
Outbound: `v1,<base64 HMAC-SHA256("{webhook-id}.{timestamp}.{body}")>` keyed with the base64-decoded
`whsec_` secret; one signature per live secret, separated by spaces, while a rotation's grace
period runs (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence

_META_HEADER = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def meta_signature_valid(body: bytes, header: str, app_secrets: Sequence[str]) -> bool:
    """True when `header` is `sha256=<hex>` of `body` under one of `app_secrets`."""
    match = _META_HEADER.match(header.strip()) if header else None
    if match is None:
        return False
    given = match.group(1).lower().encode()
    valid = False
    for secret in app_secrets:  # no early exit: the time spent does not depend on which matched
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
        valid |= hmac.compare_digest(expected, given)
    return valid


def meta_signature(body: bytes, app_secret: str) -> str:
    """The header Meta would send for `body` (used by tests and the sandbox)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_` secret; ValueError when it is not one."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("a signing secret holds 24 to 64 bytes")
    return key


def standard_signature(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_headers(
    *, secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """webhook-id, webhook-timestamp and webhook-signature (one v1 entry per secret)."""
    signatures = " ".join(
        standard_signature(secret=s, webhook_id=webhook_id, timestamp=timestamp, body=body)
        for s in secrets
    )
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
