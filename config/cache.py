"""Django's Redis cache backend, keeping one redis-py client per connection pool.

Django's RedisCacheClient builds a new `redis.Redis` for every cache call, and redis-py's
constructor fills a table of about 170 response callbacks each time: in the send API's profile
that cost more CPU than the Redis round trips themselves (three per request). A client holds no
state of its own beyond its pool and is safe to share, so one per pool is kept.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    """The stock client, with `get_client` memoised per connection pool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        stock: Any = self  # django-stubs leave the stock client's private helpers out
        pool = stock._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = stock._client(connection_pool=pool)
        return client


class ReusingRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` with ReusingRedisCacheClient."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def redis_client(self) -> Any:
        """The redis-py client of the first server, for pipelines (onboarding.api.counters)."""
        return self._cache.get_client(write=True)
