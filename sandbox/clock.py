"""The simulator's clock: wall time plus an offset that tests and the control API can advance.

The offset is per process (it moves the clock of the live server thread too, which shares the
process with the tests); every sandbox module reads time through `clock.now()`.
"""

import threading
from datetime import datetime, timedelta

from django.utils import timezone

_lock = threading.Lock()
_offset = timedelta()


def now() -> datetime:
    return timezone.now() + _offset


def advance(seconds: float) -> datetime:
    """Move the simulated time forward (codes expire, windows close, reviews fall due)."""
    global _offset
    with _lock:
        _offset += timedelta(seconds=seconds)
    return now()


def reset() -> None:
    global _offset
    with _lock:
        _offset = timedelta()
