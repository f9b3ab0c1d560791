"""Open WebSocket connections per project, counted across every server process.

With Redis (`REDIS_URL`) each project has a sorted set of connection ids scored by
when each last said it was alive; without it, a dict in this process (the only
process there is). A connection that vanishes without a goodbye (a killed server)
stops refreshing its entry and drops out of the count after `ttl()` seconds.
"""

import time
from functools import cache

import redis.asyncio as redis
from django.conf import settings

_local: dict[str, dict[str, float]] = {}


def ttl() -> float:
    return 3 * settings.WS_HEARTBEAT_SECONDS


def _key(project_id: str) -> str:
    return f"vibegrapher:ws:{project_id}"


@cache
def _client(url: str) -> "redis.Redis":
    return redis.Redis.from_url(url)


def _redis() -> "redis.Redis | None":
    return _client(settings.REDIS_URL) if settings.REDIS_URL else None


async def touch(project_id: str, connection_id: str) -> None:
    """Record the connection as alive now (on connect and at each heartbeat)."""
    now = time.time()
    client = _redis()
    if client is None:
        _local.setdefault(project_id, {})[connection_id] = now
        return
    async with client.pipeline(transaction=False) as pipe:
        pipe.zadd(_key(project_id), {connection_id: now})
        pipe.expire(_key(project_id), int(ttl()) + 60)
        await pipe.execute()


join = touch


async def leave(project_id: str, connection_id: str) -> None:
    client = _redis()
    if client is None:
        _local.get(project_id, {}).pop(connection_id, None)
        return
    await client.zrem(_key(project_id), connection_id)


async def count(project_id: str) -> int:
    """Connections of the project that were alive within `ttl()` seconds."""
    oldest = time.time() - ttl()
    client = _redis()
    if client is None:
        entries = _local.get(project_id, {})
        for connection_id, seen in list(entries.items()):
            if seen < oldest:
                del entries[connection_id]
        return len(entries)
    async with client.pipeline(transaction=False) as pipe:
        pipe.zremrangebyscore(_key(project_id), "-inf", oldest)
        pipe.zcard(_key(project_id))
        _, live = await pipe.execute()
    return int(live)
