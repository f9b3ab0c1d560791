"""WebSocket fan-out: latency from emit to receipt at every client, per channel layer.

For each layer (in-memory, and Redis when reachable, with one process and with
`python -m vibegrapher.serve --processes N`) this starts a real server
(`bench/ws_bench_app.py`: the app plus an in-process emitter), connects N clients to
one project with token auth, emits M events (100 ms apart by default), and reports the
median and p99 latency over all N x M deliveries and the deliveries per second.

Redis is a scratch database checked empty, with a key prefix (bench/redis_scratch.py):
never flushed. `--root DIR` serves another checkout (before/after, in alternation
with `--rounds`).

Usage: .venv/bin/python bench/ws_fanout.py [--clients 200] [--events 50] [--gap-ms 100]
       [--processes 1 2] [--rounds 1] [--root DIR ...]
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets
from websockets.typing import Origin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.redis_scratch import ScratchRedis  # noqa: E402
from tests.support.servers import AppServer, create_user_and_project  # noqa: E402


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
    server: AppServer, clients: int, events: int, gap_ms: float
) -> tuple[float, float, float]:
    """Clients on `server` (one or more processes on one port)."""
    made = create_user_and_project(server)
    server.start()
    query = f"/ws/projects/{made['project_id']}/?token={made['token']}"
    latencies: list[float] = []
    tasks = []
    for _ in range(clients):  # one at a time: 2 cores also run the servers
        ready = asyncio.Event()
        url = f"ws://127.0.0.1:{server.port}{query}"
        tasks.append(asyncio.create_task(client(url, events, ready, latencies)))
        await ready.wait()
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=120) as http:
        response = await http.post(
            f"{server.url}/bench/emit",
            params={"project": made["project_id"], "count": events, "gap_ms": gap_ms},
        )
        response.raise_for_status()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    elapsed = time.perf_counter() - started
    p99 = statistics.quantiles(latencies, n=100)[98]
    return statistics.median(latencies) * 1e3, p99 * 1e3, len(latencies) / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=50)
    # A run emits a few events a second; 10/s per project is well above that.
    parser.add_argument("--gap-ms", type=float, default=100.0)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--root", type=Path, action="append", help="checkouts to compare")
    parser.add_argument("--no-memory", action="store_true", help="only the Redis layer")
    args = parser.parse_args()
    roots = [root.resolve() for root in args.root or [ROOT]]
    results: dict[tuple[str, str, int], list[tuple[float, float, float]]] = {}
    with ScratchRedis() as redis:
        cases: list[tuple[str, dict[str, str], int]] = []
        if not args.no_memory:
            cases.append(("in-memory", {}, 1))
        if redis.available():
            cases += [("redis", redis.env(), processes) for processes in args.processes]
        for _ in range(args.rounds):
            for name, env, processes in cases:
                for root in roots:
                    has_launcher = (root / "vibegrapher" / "serve.py").exists()
                    if processes > 1 and not has_launcher:
                        continue
                    with tempfile.TemporaryDirectory() as shared:
                        server = AppServer(
                            Path(shared),
                            **env,
                            WS_HEARTBEAT_SECONDS="30",
                            WS_MAX_SOCKETS_PER_USER="100000",
                        )
                        server.app = "bench.ws_bench_app:application"
                        server.processes = processes
                        server.root = root
                        server.manage("migrate", "--no-input", "-v0")
                        try:
                            figures = await measure(server, args.clients, args.events, args.gap_ms)
                        finally:
                            server.stop()
                    results.setdefault((str(root), name, processes), []).append(figures)
    header = ("checkout", "layer", "procs", "median ms", "p99 ms", "deliveries/s")
    print(
        f"{args.clients} clients, {args.events} events {args.gap_ms:g} ms apart; median of "
        f"{args.rounds} round(s); load {os.getloadavg()[0]:.2f} (1 min)"
    )
    print("{:<28} {:<10} {:>5} {:>10} {:>8} {:>13}".format(*header))
    for (root, name, processes), runs in results.items():
        median, p99, rate = (statistics.median(run[n] for run in runs) for n in range(3))
        print(
            f"{root[-28:]:<28} {name:<10} {processes:>5} {median:>10.1f} {p99:>8.1f} {rate:>13.0f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
