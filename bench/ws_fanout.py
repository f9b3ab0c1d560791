"""WebSocket fan-out: latency from emit to receipt at every client, per channel layer.

For each layer (in-memory, and Redis when reachable, with one and two processes)
this starts real daphne servers (`bench/ws_bench_app.py`: the app plus an
in-process emitter), connects N clients to one project with token auth, emits M
events (100 ms apart by default), and reports the median and p99 latency over all
N x M deliveries and the deliveries per second.

Usage: .venv/bin/python bench/ws_fanout.py [--clients 200] [--events 50] [--gap-ms 100]
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets
from websockets.typing import Origin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import AppServer, create_user_and_project

REDIS_URL = "redis://127.0.0.1:6379/8"


async def client(url: str, expected: int, ready: asyncio.Event, latencies: list[float]) -> None:
    async with websockets.connect(url, origin=Origin("http://localhost"), max_queue=None) as ws:
        ready.set()
        seen = 0
        while seen < expected:
            event = json.loads(await ws.recv())
            if event.get("status") == "bench":
                latencies.append(time.time() - event["sent_at"])
                seen += 1


async def measure(
    servers: list[AppServer], clients: int, events: int, gap_ms: float
) -> tuple[float, float, float]:
    """Clients spread over `servers` (sharing one database); events emitted by the first."""
    made = create_user_and_project(servers[0])
    for server in servers:
        server.start()
    query = f"/ws/projects/{made['project_id']}/?token={made['token']}"
    latencies: list[float] = []
    tasks = []
    for n in range(clients):  # one at a time: 2 cores also run the servers
        ready = asyncio.Event()
        url = f"ws://127.0.0.1:{servers[n % len(servers)].port}{query}"
        tasks.append(asyncio.create_task(client(url, events, ready, latencies)))
        await ready.wait()
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=120) as http:
        response = await http.post(
            f"{servers[0].url}/bench/emit",
            params={"project": made["project_id"], "count": events, "gap_ms": gap_ms},
        )
        response.raise_for_status()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    elapsed = time.perf_counter() - started
    p99 = statistics.quantiles(latencies, n=100)[98]
    return statistics.median(latencies) * 1e3, p99 * 1e3, len(latencies) / elapsed


def redis_reachable() -> bool:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()
        return True
    except redis.RedisError:
        return False


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=50)
    # A run emits a few events a second; 10/s per project is well above that.
    parser.add_argument("--gap-ms", type=float, default=100.0)
    args = parser.parse_args()
    layers: list[tuple[str, dict[str, str], int]] = [("in-memory", {}, 1)]
    if redis_reachable():
        layers += [("redis", {"REDIS_URL": REDIS_URL}, 1), ("redis", {"REDIS_URL": REDIS_URL}, 2)]
    rows = []
    for name, env, processes in layers:
        with tempfile.TemporaryDirectory() as shared:
            servers = [
                AppServer(Path(shared), **env, WS_HEARTBEAT_SECONDS="30") for _ in range(processes)
            ]
            for server in servers:
                server.app = "bench.ws_bench_app:application"
            servers[0].manage("migrate", "--no-input", "-v0")
            try:
                figures = await measure(servers, args.clients, args.events, args.gap_ms)
            finally:
                for server in servers:
                    server.stop()
        rows.append((name, processes, args.clients, args.events, *figures))
    header = ("layer", "daphnes", "clients", "events", "median ms", "p99 ms", "deliveries/s")
    print(f"events {args.gap_ms:g} ms apart; clients spread evenly over the daphne processes")
    print("{:<10} {:>7} {:>7} {:>6} {:>10} {:>8} {:>13}".format(*header))
    for name, processes, clients, events, median, p99, rate in rows:
        print(
            f"{name:<10} {processes:>7} {clients:>7} {events:>6} "
            f"{median:>10.1f} {p99:>8.1f} {rate:>13.0f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
