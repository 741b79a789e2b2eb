"""A windowed counter in the shared cache (atomic INCR on Redis), for the API's throttles."""

from django.core.cache import cache


def counter_incr(key: str, *, ttl: int) -> int:
    """Add one to `key`, creating it with `ttl` seconds to live; return the new count.

    The key usually exists, so INCR comes first; a missing key is created with ADD (set if
    absent), and losing that race to another request just means incrementing theirs.
    """
    try:
        return int(cache.incr(key))
    except ValueError:
        if cache.add(key, 1, timeout=ttl):
            return 1
        return int(cache.incr(key))
