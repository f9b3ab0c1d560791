"""REST read throughput: `GET /api/projects` (50 projects) and `GET /api/projects/{id}`.

Serves the app the way production does (DEBUG off, SQLite unless `--database-url`),
with one process and with `--processes N` (`python -m vibegrapher.server.serve`, Redis layer),
and drives it with a small keep-alive HTTP/1.1 client (one asyncio connection per
concurrent client, in its own process). Prints req/s, p50 and p99 per case, and the
server's CPU time per request (all its processes, from /proc): on a machine that other
work keeps busy, req/s follows the load, the CPU per request much less.

`--root DIR` serves another checkout of the app (e.g. `git archive main | tar -x -C
/tmp/before`), so that before/after can be run in alternation with `--rounds`; a
checkout without `vibegrapher/server/serve.py` is served by plain daphne (1 process only).

Usage: .venv/bin/python bench/rest.py [--requests 2000] [--processes 1 2]
       [--rounds 3] [--root . --root /tmp/before]
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import tree_cpu_seconds  # noqa: E402
from bench.redis_scratch import ScratchRedis  # noqa: E402

SETUP = """
import json
from django.contrib.auth.models import User
from accounts.tokens import create_token
from projects.services import create_project
user = User.objects.create_user("bench", password="bench-pass-1")
ids = [str(create_project(user, f"Bench {n}", None).id) for n in range(50)]
print(json.dumps({"token": create_token(user), "ids": ids}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launcher_of(root: Path) -> str | None:
    """The multi-process launcher's module in the checkout at `root` (older checkouts
    have it at the top of the package), or None when it has none."""
    for module in ("vibegrapher.server.serve", "vibegrapher.serve"):
        if (root / (module.replace(".", "/") + ".py")).exists():
            return module
    return None


class Served:
    """The app of `root` on a free port: plain daphne, or the multi-process launcher."""

    def __init__(self, root: Path, workdir: Path, env: dict[str, str], processes: int) -> None:
        self.root, self.env, self.processes = root, env, processes
        self.port = free_port()
        launcher = launcher_of(root)
        if processes > 1 and launcher is None:
            raise SystemExit(f"{root} has no vibegrapher/server/serve.py: one process only")
        if launcher is not None:
            command = ["-m", launcher, "--processes", str(processes)]
        else:
            command = ["-m", "daphne"]
        command += ["-b", "127.0.0.1", "-p", str(self.port), "vibegrapher.asgi:application"]
        self.log = (workdir / f"server-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, *command], cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: see {self.log.name}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not start")

    def cpu_seconds(self) -> float:
        """CPU time of the server's processes so far (user + system, every thread)."""
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


async def _client(port: int, request: bytes, count: list[int], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while count[0] > 0:
            count[0] -= 1
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if status != b"200":
                raise RuntimeError(f"answer {status!r}: {head!r}")
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


def _load(port: int, path: str, token: str, concurrency: int, requests: int, out: Any) -> None:
    """The load generator's process: `requests` GETs over `concurrency` connections."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()

    async def run() -> tuple[float, list[float]]:
        count, latencies = [requests], list[float]()
        started = time.perf_counter()
        await asyncio.gather(
            *(_client(port, request, count, latencies) for _ in range(concurrency))
        )
        return time.perf_counter() - started, latencies

    out.send(asyncio.run(run()))


def load(
    server: Served, path: str, token: str, concurrency: int, requests: int
) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_load, args=(server.port, path, token, concurrency, requests, send)
    )
    cpu_before = server.cpu_seconds()
    process.start()
    while not receive.poll(1):
        if not process.is_alive():
            raise RuntimeError("the load generator died")
    wall, latencies = receive.recv()
    cpu = server.cpu_seconds() - cpu_before
    process.join()
    latencies.sort()
    return {
        "rps": len(latencies) / wall,
        "p50": statistics.median(latencies) * 1e3,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1e3,
        "cpu": cpu / len(latencies) * 1e3,
    }


def prepare(root: Path, workdir: Path, args: argparse.Namespace) -> tuple[dict[str, str], Any]:
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-" + "x" * 40,
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": args.database_url or f"sqlite:///{workdir}/db.sqlite3",
        "MEDIA_ROOT": str(workdir / "media"),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(root),
    }
    for command in (["migrate", "--no-input", "-v0"], ["shell", "-c", SETUP]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode:
            raise RuntimeError(done.stdout + done.stderr)
    return env, json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--root", type=Path, action="append", help="checkouts to compare")
    parser.add_argument("--database-url", default="", help="a PostgreSQL database to fill")
    args = parser.parse_args()
    roots = [root.resolve() for root in args.root or [ROOT]]
    if args.database_url and len(roots) > 1:
        raise SystemExit("--database-url serves one checkout (each fills the database)")
    results: dict[tuple[str, int, str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, ScratchRedis() as redis:
        prepared = {}
        for n, root in enumerate(roots):
            workdir = Path(tmp) / str(n)
            workdir.mkdir()
            prepared[root] = (workdir, *prepare(root, workdir, args))
        for _ in range(args.rounds):
            for processes in args.processes:
                for root in roots:  # alternate checkouts within a round
                    workdir, env, made = prepared[root]
                    if processes > 1:
                        if launcher_of(root) is None:
                            continue
                        env = {**env, **redis.env()}
                    server = Served(root, workdir, env, processes)
                    try:
                        paths = {
                            "list": "/api/projects",
                            "detail": f"/api/projects/{made['ids'][7]}",
                        }
                        for name, path in paths.items():
                            load(server, path, made["token"], 10, 200)  # warm-up
                            for concurrency in args.concurrency:
                                figures = load(
                                    server, path, made["token"], concurrency, args.requests
                                )
                                key = (str(root), processes, name, concurrency)
                                print(key, figures, file=sys.stderr, flush=True)
                                results.setdefault(key, []).append(figures)
                    finally:
                        server.stop()
    print(f"{args.requests} requests per case; median of {args.rounds} round(s); load: "
          f"{os.getloadavg()[0]:.2f} (1 min)")  # fmt: skip
    print(f"{'checkout':<28} {'procs':>5} {'endpoint':<8} {'c':>3} {'req/s':>7} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'CPU ms/req':>10}")  # fmt: skip
    for (root, processes, name, concurrency), runs in results.items():
        median = {
            k: statistics.median(run[k] for run in runs) for k in ("rps", "p50", "p99", "cpu")
        }
        print(
            f"{root[-28:]:<28} {processes:>5} {name:<8} {concurrency:>3} {median['rps']:>7.0f} "
            f"{median['p50']:>7.1f} {median['p99']:>7.1f} {median['cpu']:>10.1f}"
        )


if __name__ == "__main__":
    main()
