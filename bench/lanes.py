"""Another user's read beside slow work: `GET /api/projects/{id}` with a Graphviz layout and
twelve password checks in flight (the lanes of vibegrapher/lanes.py).

Serves the app as production does (DEBUG off, SQLite, one daphne process). One user's
workflow is genuinely slow to lay out (30 agents handing off to each other,
tests/support/slow_graphs.py); with the edge cap raised and GRAPH_LAYOUT_TIMEOUT_SECONDS=60 its
`?format=svg` keeps `dot` busy for 60 s. Twelve wrong-password logins are kept in
flight (a new one as each ends; the lockout is raised out of the way). Meanwhile
`--clients` keep-alive clients, in a process of their own, read another user's project
for `--seconds` (less than the layout's minute), and the same is measured with nothing
else running. Prints req/s, p50, p99 and the slowest read per case, and checks that
the layout was still running when the loaded measurement ended.

Usage: .venv/bin/python bench/lanes.py [--seconds 40] [--clients 1 4]
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
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rest import Served  # noqa: E402
from tests.support.slow_graphs import all_hand_off  # noqa: E402

LAYOUT_SECONDS = 60
PASSWORD_CHECKS = 12

SETUP = """
import json
from django.contrib.auth.models import User
from accounts.tokens import create_token
from projects.services import create_project
slow = User.objects.create_user("mallory", password="mallory-pass-1")
crowded = create_project(slow, "Everyone hands off", {code!r})
reader = User.objects.create_user("walker", password="walker-pass-1")
mine = create_project(reader, "Mine", None)
print(json.dumps({{
    "slow_token": create_token(slow), "crowded": str(crowded.id),
    "token": create_token(reader), "project": str(mine.id),
}}))
"""


def dot_processes(parent: int) -> list[int]:
    """Running `dot` processes started by process `parent`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if name == "dot" and int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(proc.name))
    return found


async def _reader(
    port: int, request: bytes, until: float, latencies: list[float], statuses: list[bytes]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses.append(head[9:12])
    finally:
        writer.close()


def _read_for(port: int, path: str, token: str, clients: int, seconds: float, out: Any) -> None:
    """The readers' process: `clients` connections reading `path` for `seconds`."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()

    async def run() -> tuple[float, list[float], list[bytes]]:
        latencies: list[float] = []
        statuses: list[bytes] = []
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(
            *(_reader(port, request, until, latencies, statuses) for _ in range(clients))
        )
        return time.perf_counter() - started, latencies, statuses

    out.send(asyncio.run(run()))


def read_for(server: Served, path: str, token: str, clients: int, seconds: float) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_read_for, args=(server.port, path, token, clients, seconds, send)
    )
    process.start()
    while not receive.poll(1):
        if not process.is_alive():
            raise RuntimeError("the readers' process died")
    wall, latencies, statuses = receive.recv()
    process.join()
    latencies.sort()
    return {
        "reads": len(latencies),
        "rps": len(latencies) / wall,
        "p50": statistics.median(latencies) * 1e3,
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1e3,
        "max": latencies[-1] * 1e3,
        "not_200": sum(status != b"200" for status in statuses),
    }


class SlowWork:
    """One layout and PASSWORD_CHECKS wrong-password logins in flight, from threads."""

    def __init__(self, server: Served, made: dict[str, str]) -> None:
        self.base = f"http://127.0.0.1:{server.port}"
        self.made = made
        self.stop = threading.Event()
        self.checks: list[int] = []  # statuses of the finished password checks
        self.layout: list[Any] = []
        self.threads = [threading.Thread(target=self._layout, daemon=True)]
        self.threads += [
            threading.Thread(target=self._logins, args=(n,), daemon=True)
            for n in range(PASSWORD_CHECKS)
        ]

    def _layout(self) -> None:
        try:
            answer = httpx.get(
                f"{self.base}/api/projects/{self.made['crowded']}/graph?format=svg",
                headers={"Authorization": f"Token {self.made['slow_token']}"},
                timeout=LAYOUT_SECONDS + 120,
            )
            self.layout.append((answer.status_code, answer.json().get("reason")))
        except httpx.HTTPError as exc:
            self.layout.append(exc)

    def _logins(self, n: int) -> None:
        with httpx.Client(base_url=self.base, timeout=300) as http:
            while not self.stop.is_set():
                try:
                    answer = http.post(
                        "/api/auth/token", json={"username": "mallory", "password": f"wrong-{n}"}
                    )
                except httpx.HTTPError:
                    return  # the server stopped at the end
                self.checks.append(answer.status_code)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    if args.seconds >= LAYOUT_SECONDS - 5:
        raise SystemExit(f"--seconds must leave the {LAYOUT_SECONDS} s layout running")
    rows: list[tuple[str, int, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-" + "x" * 40,
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": f"sqlite:///{workdir}/db.sqlite3",
            "MEDIA_ROOT": str(workdir / "media"),
            "LOG_LEVEL": "WARNING",
            "GRAPH_MAX_DRAWN_EDGES": "10000",
            "GRAPH_LAYOUT_TIMEOUT_SECONDS": str(LAYOUT_SECONDS),
            "LOGIN_FAILURE_LIMIT": "1000000",
            "LANE_WAIT_SECONDS": "600",
        }
        setup = SETUP.format(code=all_hand_off(30))
        made: dict[str, str] = {}
        for command in (["migrate", "--no-input", "-v0"], ["shell", "-c", setup]):
            done = subprocess.run(
                [sys.executable, "manage.py", *command],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            if done.returncode:
                raise RuntimeError(done.stdout + done.stderr)
        made = json.loads(done.stdout.strip().splitlines()[-1])
        path = f"/api/projects/{made['project']}"
        server = Served(ROOT, workdir, env, 1)
        try:
            read_for(server, path, made["token"], 4, 3)  # warm-up
            for clients in args.clients:
                rows.append(("quiet", clients, read_for(server, path, made["token"], clients, 10)))
            slow = SlowWork(server, made)
            slow.start()
            deadline = time.monotonic() + 60
            while not dot_processes(server.process.pid):
                if time.monotonic() > deadline or slow.layout:
                    raise RuntimeError(f"the layout did not start: {slow.layout}")
                time.sleep(0.05)
            layout_started = time.monotonic()
            time.sleep(1)  # the password checks under way
            share = args.seconds / len(args.clients)
            for clients in args.clients:
                figures = read_for(server, path, made["token"], clients, share)
                figures["dot"] = bool(dot_processes(server.process.pid))
                rows.append(("layout + 12 logins", clients, figures))
            slow.stop.set()
            checks = list(slow.checks)
            in_flight = time.monotonic() - layout_started
        finally:
            for pid in dot_processes(server.process.pid):
                os.kill(pid, signal.SIGKILL)  # the server's own limit would end it later
            server.stop()
    print(f"{PASSWORD_CHECKS} password checks kept in flight: {len(checks)} answered in "
          f"{in_flight:.0f} s ({sorted(set(checks))}); layout: {LAYOUT_SECONDS} s limit, "
          f"load: {os.getloadavg()[0]:.2f} (1 min)")  # fmt: skip
    print(f"{'case':<20} {'c':>3} {'reads':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'non-200':>7} {'dot running at end':>18}")  # fmt: skip
    for case, clients, f in rows:
        dot = "" if "dot" not in f else ("yes" if f["dot"] else "NO")
        print(
            f"{case:<20} {clients:>3} {f['reads']:>6} {f['rps']:>7.0f} {f['p50']:>7.1f} "
            f"{f['p99']:>7.1f} {f['max']:>7.1f} {f['not_200']:>7} {dot:>18}"
        )


if __name__ == "__main__":
    main()
