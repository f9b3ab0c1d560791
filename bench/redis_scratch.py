"""A Redis for benchmarks that never touches anybody else's keys.

Other programs share the Redis server, so benchmarks never `FLUSHDB`. They use the
database of `BENCH_REDIS_URL` (default `redis://127.0.0.1:6379/15`), refuse to start
if it holds any key, give the app a key prefix of their own (`REDIS_KEY_PREFIX`), and
delete afterwards only the keys they made: those under the prefix, plus the app's
default prefixes (`asgi`, `:1:`, `vibegrapher:`) for checkouts that predate
`REDIS_KEY_PREFIX`, which the benchmark made since the database was empty at its start.
"""

import os
import uuid
from typing import Any

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/15"


class ScratchRedis:
    def __init__(self) -> None:
        self.url = os.environ.get("BENCH_REDIS_URL", DEFAULT_URL)
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        self.client: redis.Redis | None = None

    def __enter__(self) -> "ScratchRedis":
        client = redis.Redis.from_url(self.url, socket_connect_timeout=2)
        try:
            keys = client.dbsize()
        except redis.RedisError:
            return self  # unreachable: available() says so
        if keys:
            raise SystemExit(
                f"{self.url} holds {keys} keys: choose an empty database with BENCH_REDIS_URL"
            )
        self.client = client
        return self

    def available(self) -> bool:
        return self.client is not None

    def env(self) -> dict[str, str]:
        if self.client is None:
            raise SystemExit(f"Redis at {self.url} is unreachable: N processes need it")
        return {"REDIS_URL": self.url, "REDIS_KEY_PREFIX": self.prefix}

    def __exit__(self, *exc: Any) -> None:
        if self.client is None:
            return
        for pattern in (f"{self.prefix}*", "asgi*", ":1:*", "vibegrapher:*"):
            batch = list(self.client.scan_iter(match=pattern, count=500))
            for start in range(0, len(batch), 500):
                self.client.delete(*batch[start : start + 500])
        self.client.close()
