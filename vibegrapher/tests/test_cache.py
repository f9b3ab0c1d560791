"""The Redis cache with a memory stand-in (vibegrapher/cache.py), on a redis-server of
the test's own that it kills: every cache call still answers, none raises."""

from collections.abc import Iterator

import pytest

from tests.support.servers import OwnRedis
from vibegrapher import cache as fallback_cache
from vibegrapher.cache import FallbackRedisCache

pytestmark = pytest.mark.redis


@pytest.fixture
def cache(own_redis: OwnRedis) -> Iterator[FallbackRedisCache]:
    fallback_cache._outages.clear()
    yield FallbackRedisCache(
        own_redis.url,
        {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1, "retry_seconds": 60}},
    )
    fallback_cache._outages.clear()


def test_a_count_seen_in_redis_goes_on_in_memory(cache, own_redis: OwnRedis) -> None:
    # axes adds a key, finds it there, then increments it: Redis may go in between.
    assert cache.add("count", 1, 60)
    assert not cache.add("count", 1, 60)
    own_redis.kill()

    assert cache.incr("count") == 1  # not "key not found": the count restarts in memory
    assert cache.incr("count") == 2
    assert cache.redis_down


def test_every_call_answers_while_redis_is_down(cache, own_redis: OwnRedis) -> None:
    own_redis.kill()

    cache.set("a", 1, 60)
    cache.set_many({"b": 2, "c": 3}, 60)
    assert cache.get("a") == 1
    assert cache.get_many(["a", "b", "c", "d"]) == {"a": 1, "b": 2, "c": 3}
    assert cache.has_key("b")
    assert cache.touch("a", 60)
    assert cache.delete("a")
    cache.delete_many(["b", "c"])
    assert cache.get_many(["a", "b", "c"]) == {}
    # In memory, incr never says "key not found" (Redis may have had it): it starts.
    assert cache.incr("never-set", 5) == 5
