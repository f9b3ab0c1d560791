"""Django's Redis cache, answering from this process's memory while Redis is unavailable.

The cache holds the failed-login counts (django-axes, accounts/throttling.py). With the
plain Redis cache an unreachable Redis raised from every login, and every login
answered 500. This backend sends each operation to Redis; when Redis refuses, times
out, drops the connection or refuses writes (full, read-only) it logs one warning for
the outage, answers from a local-memory cache instead, and asks Redis again at most
every `retry_seconds` (one request asks, the others meanwhile stay in memory). When
Redis answers again it logs that too and is used from then on.

What the memory holds during an outage is this process's alone and is not copied to
Redis afterwards: counts are then per server process, and start again from what Redis
held once it is back. In memory, `incr` of a missing key starts it at `delta` instead
of raising: the key may have been in Redis a moment before.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from vibegrapher.lib.debug_filter import URL_PASSWORD

logger = logging.getLogger(__name__)

# What an unreachable, stopped or frozen Redis raises (BusyLoadingError, a Redis still
# loading its data after a restart, is a ConnectionError too), and a full one (maxmemory
# with noeviction) or a replica that a failover left read-only, which refuse writes.
REDIS_UNAVAILABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
)

Result = TypeVar("Result")


class _Outage:
    """Whether one Redis is down, shared by every thread of the process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_since: float | None = None
        self.next_try = 0.0

    def should_try_redis(self, retry_seconds: float) -> bool:
        with self.lock:
            if self.down_since is None:
                return True
            now = time.monotonic()
            if now < self.next_try:
                return False
            # This caller asks Redis; the others stay in memory until it has answered.
            self.next_try = now + retry_seconds
            return True

    def failed(self, location: str, error: Exception, retry_seconds: float) -> None:
        with self.lock:
            first = self.down_since is None
            now = time.monotonic()
            if first:
                self.down_since = now
            self.next_try = now + retry_seconds
        if first:
            logger.warning(
                "cache: Redis at %s is unavailable (%s: %s): using this process's "
                "memory instead (failed-login counts are per process until it is back); "
                "trying Redis again every %s s",
                location,
                type(error).__name__,
                error,
                retry_seconds,
            )

    def answered(self, location: str) -> None:
        if self.down_since is None:  # the common case, without taking the lock
            return
        with self.lock:
            down_since, self.down_since = self.down_since, None
        if down_since is not None:
            logger.warning(
                "cache: Redis at %s answers again after %.0f s: using it again",
                location,
                time.monotonic() - down_since,
            )


_outages: dict[str, _Outage] = {}
_outages_lock = threading.Lock()


def _outage_of(location: str) -> _Outage:
    with _outages_lock:
        return _outages.setdefault(location, _Outage())


class FallbackRedisCache(RedisCache):
    """`RedisCache` with a local-memory stand-in while Redis is unreachable.

    `OPTIONS` takes `retry_seconds` (how often to ask a Redis that is down, default 5)
    besides RedisCache's own; give `socket_connect_timeout` and `socket_timeout` too,
    so that a Redis that stopped answering costs a request that long, not forever.
    """

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS", {}))
        self.retry_seconds = float(options.pop("retry_seconds", 5.0))
        super().__init__(server, {**params, "OPTIONS": options})
        location = server if isinstance(server, str) else ",".join(server)
        self._outage = _outage_of(location)
        # As the log names it: without the password a REDIS_URL may hold.
        self.location = URL_PASSWORD.sub(r"\g<head>********\g<at>", location)
        # LocMemCache instances with one name share their data across the process.
        self._memory = LocMemCache(
            f"redis-fallback:{location}",
            {
                "TIMEOUT": params.get("TIMEOUT", 300),
                "KEY_PREFIX": params.get("KEY_PREFIX", ""),
                "VERSION": params.get("VERSION", 1),
                "KEY_FUNCTION": params.get("KEY_FUNCTION"),
                "OPTIONS": {"MAX_ENTRIES": 100_000},
            },
        )

    @property
    def redis_down(self) -> bool:
        return self._outage.down_since is not None

    def _either(self, on_redis: Callable[[], Result], in_memory: Callable[[], Result]) -> Result:
        if not self._outage.should_try_redis(self.retry_seconds):
            return in_memory()
        try:
            result = on_redis()
        except REDIS_UNAVAILABLE as error:
            self._outage.failed(self.location, error, self.retry_seconds)
            return in_memory()
        self._outage.answered(self.location)
        return result

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        return self._either(
            lambda: super(FallbackRedisCache, self).add(key, value, timeout, version),
            lambda: self._memory.add(key, value, timeout, version),
        )

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self._either(
            lambda: super(FallbackRedisCache, self).get(key, default, version),
            lambda: self._memory.get(key, default, version),
        )

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        self._either(
            lambda: super(FallbackRedisCache, self).set(key, value, timeout, version),
            lambda: self._memory.set(key, value, timeout, version),
        )

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._either(
            lambda: super(FallbackRedisCache, self).touch(key, timeout, version),
            lambda: self._memory.touch(key, timeout, version),
        )

    def delete(self, key: Any, version: Any = None) -> bool:
        return self._either(
            lambda: super(FallbackRedisCache, self).delete(key, version),
            lambda: self._memory.delete(key, version),
        )

    def get_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
        return self._either(
            lambda: super(FallbackRedisCache, self).get_many(keys, version),
            lambda: self._memory.get_many(keys, version),
        )

    def has_key(self, key: Any, version: Any = None) -> bool:
        return self._either(
            lambda: super(FallbackRedisCache, self).has_key(key, version),
            lambda: self._memory.has_key(key, version),
        )

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        return self._either(
            lambda: super(FallbackRedisCache, self).incr(key, delta, version),
            lambda: self._incr_in_memory(key, delta, version),
        )

    def _incr_in_memory(self, key: Any, delta: int, version: Any) -> int:
        # A caller that saw the key in Redis just before it went away (add, then incr)
        # must not get "key not found": the count starts again in memory.
        try:
            return self._memory.incr(key, delta, version)
        except ValueError:
            self._memory.add(key, delta, version=version)
            return delta

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        return self._either(
            lambda: super(FallbackRedisCache, self).set_many(data, timeout, version),
            lambda: self._memory.set_many(data, timeout, version),
        )

    def delete_many(self, keys: Any, version: Any = None) -> None:
        self._either(
            lambda: super(FallbackRedisCache, self).delete_many(keys, version),
            lambda: self._memory.delete_many(keys, version),
        )

    def clear(self) -> None:
        self._memory.clear()
        self._either(lambda: super(FallbackRedisCache, self).clear(), lambda: None)
