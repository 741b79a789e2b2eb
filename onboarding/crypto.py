"""Secrets at rest: Fernet encryption under FIELD_ENCRYPTION_KEYS, and token hashing.

Encryption uses the first key and decrypts with any, so a key can be rotated without downtime.
Tech Provider API tokens are random and long, so a single SHA-256 is enough to store them; a slow
password hasher would add ~100 ms to every API call for no gain.
"""

import hashlib
import hmac
import secrets
import string
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ("InvalidToken", "decrypt", "encrypt", "random_token", "token_hash", "tokens_equal")

_ALPHANUMERIC = string.ascii_letters + string.digits


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    return _current().decrypt(ciphertext.encode()).decode()


def reencrypt(ciphertext: str) -> str:
    """Re-encrypt under the newest key (a no-op in meaning, a key change in bytes)."""
    return _current().rotate(ciphertext.encode()).decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def random_token(length: int = 40, alphabet: str = _ALPHANUMERIC) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))
