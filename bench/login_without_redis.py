"""What a login costs while the Redis that holds the failed-login counts is up, killed or
frozen (SIGSTOP: connections open, nothing answers).

One daphne (DEBUG off, SQLite, the real password hasher) with a redis-server of its own;
`POST /api/auth/token` with the right password, one request at a time, from addresses
that change so no lockout interferes. Prints p50 / p95 / max per case and how many
answered 200. With Redis frozen, the cache gives up after REDIS_CACHE_TIMEOUT_SECONDS
and asks Redis again every 5 s, so about one login in each 5 s pays that wait.

Usage: .venv/bin/python bench/login_without_redis.py [--logins 40]
"""

import argparse
import collections
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import AppServer, OwnRedis, create_user_and_project  # noqa: E402

IP_HEADER = "X-Bench-Client-IP"


def logins(server: AppServer, count: int, case: str) -> None:
    took: list[float] = []
    statuses: list[int] = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for n in range(count):
            started = time.perf_counter()
            response = client.post(
                "/api/auth/token",
                json={"username": "bench", "password": "bench-pass-123"},
                headers={IP_HEADER: f"10.9.{n // 250}.{n % 250}"},
            )
            took.append(time.perf_counter() - started)
            statuses.append(response.status_code)
    took.sort()
    p95 = took[min(len(took) - 1, int(len(took) * 0.95))]
    print(
        f"{case:<14} answers {dict(collections.Counter(statuses))}   "
        f"p50 {statistics.median(took) * 1000:6.0f} ms   p95 {p95 * 1000:6.0f} ms   "
        f"max {took[-1] * 1000:6.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        redis_server = OwnRedis(Path(work))
        try:
            env = {
                "DEBUG": "false",
                "SECRET_KEY": "bench-secret-key-bench-secret-key-bench-secret-key",
                "ALLOWED_HOSTS": "127.0.0.1",
                "SECURE_SSL_REDIRECT": "false",
                "REDIS_URL": redis_server.url,
                "CLIENT_IP_HEADER": IP_HEADER,
            }
            with AppServer(Path(work), **env) as server:
                server.manage("migrate", "--no-input", "-v0")
                create_user_and_project(server, username="bench", password="bench-pass-123")
                server.start()
                logins(server, args.logins, "Redis up")
                redis_server.freeze()
                logins(server, args.logins, "Redis frozen")
                redis_server.kill()
                logins(server, args.logins, "Redis killed")
                log = server.log.read_text()
                print(f"log lines 'is unavailable': {log.count('is unavailable')}")
        finally:
            redis_server.kill()


if __name__ == "__main__":
    main()
