"""Identifiers and secrets the simulator mints: Meta-like numeric ids, wamids, tokens, traces."""

import base64
import hashlib
import secrets
import string

_ALNUM = string.ascii_letters + string.digits


def new_id() -> str:
    """A 15-digit numeric id, like Meta's object ids."""
    return str(100_000_000_000_000 + secrets.randbelow(899_999_999_999_999))


def new_fbtrace_id() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(11))


def new_wamid(wa_id: str) -> str:
    """A wamid: Meta's are base64 of an opaque structure that starts with the recipient."""
    raw = wa_id.encode() + b"\x15\x02\x00\x11\x18" + secrets.token_bytes(12)
    return "wamid." + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_secret(prefix: str, length: int = 120) -> str:
    """An opaque bearer value (token, code) of letters and digits."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def digest(value: str) -> str:
    """SHA-256 hex: how issued tokens, codes and PINs are stored (they are random or checked)."""
    return hashlib.sha256(value.encode()).hexdigest()


def hint(value: str) -> str:
    return value[-4:]
