"""Open WebSocket connections per project and per user, counted across every server process.

With Redis (`REDIS_URL`) each project (and each user) has a sorted set of connection
ids scored by when each last said it was alive; without it, a dict in this process
(the only process there is). A connection that vanishes without a goodbye (a killed
server) stops refreshing its entry and drops out of the count after `ttl()` seconds.
"""

import time
from functools import cache

import redis.asyncio as redis
from django.conf import settings

_local: dict[str, dict[str, float]] = {}


def ttl() -> float:
    return 3 * settings.WS_HEARTBEAT_SECONDS


def _key(project_id: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}vibegrapher:ws:{project_id}"


def _user_key(user_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}vibegrapher:ws-user:{user_id}"


@cache
def _client(url: str) -> "redis.Redis":
    return redis.Redis.from_url(url)


def _redis() -> "redis.Redis | None":
    return _client(settings.REDIS_URL) if settings.REDIS_URL else None


async def _touch(key: str, connection_id: str) -> None:
    now = time.time()
    client = _redis()
    if client is None:
        _local.setdefault(key, {})[connection_id] = now
        return
    async with client.pipeline(transaction=False) as pipe:
        pipe.zadd(key, {connection_id: now})
        pipe.expire(key, int(ttl()) + 60)
        await pipe.execute()


async def _leave(key: str, connection_id: str) -> None:
    client = _redis()
    if client is None:
        _local.get(key, {}).pop(connection_id, None)
        return
    await client.zrem(key, connection_id)


async def _count(key: str) -> int:
    oldest = time.time() - ttl()
    client = _redis()
    if client is None:
        entries = _local.get(key, {})
        for connection_id, seen in list(entries.items()):
            if seen < oldest:
                del entries[connection_id]
        return len(entries)
    async with client.pipeline(transaction=False) as pipe:
        pipe.zremrangebyscore(key, "-inf", oldest)
        pipe.zcard(key)
        _, live = await pipe.execute()
    return int(live)


async def touch(project_id: str, connection_id: str) -> None:
    """Record the connection as alive now (on connect and at each heartbeat)."""
    await _touch(_key(project_id), connection_id)


join = touch


async def leave(project_id: str, connection_id: str) -> None:
    await _leave(_key(project_id), connection_id)


async def count(project_id: str) -> int:
    """Connections of the project that were alive within `ttl()` seconds."""
    return await _count(_key(project_id))


async def touch_user(user_id: int, connection_id: str) -> None:
    """The same bookkeeping per user, for the per-user socket limit."""
    await _touch(_user_key(user_id), connection_id)


async def leave_user(user_id: int, connection_id: str) -> None:
    await _leave(_user_key(user_id), connection_id)


async def count_user(user_id: int) -> int:
    return await _count(_user_key(user_id))
