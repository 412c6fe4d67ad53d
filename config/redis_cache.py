"""Django's Redis cache, with one redis-py client per connection pool instead of one per call.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` around the shared pool on every
cache call, and each build fills the client's table of some 80 response callbacks: about a tenth of a
millisecond of CPU per call, paid several times on every agent request (the key check, the rate
limit). A ``redis.Redis`` over a pool is safe to share (each command borrows a connection from the
pool), so this keeps the one it built. Everything else is Django's backend unchanged."""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _ReusedClients(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(index))
        return client


class RedisCache(DjangoRedisCache):
    """``django.core.cache.backends.redis.RedisCache`` whose clients are built once per pool."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = _ReusedClients
