"""What a restart costs the requests in flight: dropped, answered 503, time to exit.

Two measures (vibegrapher/server/shutdown.py is what they exercise):

- `rolling`: two daphne processes (as two machines; one SQLite file, a Redis of
  their own) behind a local TCP proxy that sends each new connection to a server
  that accepts it (tests/support/proxy.py). Client threads make requests at a steady
  rate (quick reads, and one thread of one-second test runs), a connection each;
  then a rolling restart: SIGTERM the first, start a new one, SIGTERM the other.
  Prints requests made, answered 200, answered 503 (all with Retry-After?) and
  dropped without an answer.
- `exit`: the production server (`python -m vibegrapher.server.serve`,
  WEB_PROCESSES=2, DEBUG off, Redis) with 0, 1 and 50 requests in flight at
  SIGTERM, each a test run of a test that sleeps (`--test-seconds`, 3): prints
  the time from the signal to the exit and how each request was answered.

Usage: .venv/bin/python bench/rolling_restart.py [rolling|exit|both] [--readers 4]
       [--grace 15] [--test-seconds 3] [--in-flight 0,1,50] [--root DIR]

`--root` serves another checkout (e.g. `git archive` of the commit before this one
into a directory) for a before/after comparison.
"""

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.proxy import Proxy  # noqa: E402
from tests.support.servers import AppServer, OwnRedis, create_user_and_project  # noqa: E402

PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
# How long `exit` waits for a process before it counts it as hung and kills it.
EXIT_WAIT_SECONDS = 60


def _kill_tree(pid: int) -> None:
    """SIGKILL a server's children (serve.py's daphnes), then the server."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _add_test(server: AppServer, project_id: str, seconds: float) -> None:
    code = f"import time\n\ntime.sleep({seconds})\n"
    server.python(
        "from projects.models import TestCase; "
        f"TestCase.objects.create(project_id={project_id!r}, name='sleeps', "
        f"test_code={code!r}, quick_test=False); print(1)"
    )


class Tally:
    """Every request's outcome, from several threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.dropped: list[str] = []

    def request(self, http: httpx.Client, method: str, path: str, **kw: object) -> None:
        sent = time.strftime("%H:%M:%S")
        try:
            response = http.request(method, path, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            with self.lock:
                self.counts["dropped"] += 1
                self.dropped.append(f"{method} {path} sent at {sent}: {exc!r}")
            return
        with self.lock:
            self.counts[str(response.status_code)] += 1
            if response.status_code == 503 and "retry-after" not in response.headers:
                self.counts["503 without Retry-After"] += 1


def rolling(readers: int, grace: float, keep: Path | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = keep or Path(tmp)
        redis = OwnRedis(workdir)

        def machine() -> AppServer:
            return AppServer(
                workdir,
                DATABASE_URL=f"sqlite:///{workdir}/shared.sqlite3",
                REDIS_URL=redis.url,
                TEST_SANDBOX="unsafe-subprocess",
                SHUTDOWN_GRACE_SECONDS=str(grace),
            )

        a, b = machine(), machine()
        servers = [a, b]
        try:
            a.manage("migrate", "--no-input", "-v0")
            made = create_user_and_project(a)
            _add_test(a, made["project_id"], 1)
            a.start()
            b.start()
            proxy = Proxy([a.port, b.port]).start()
            tally = Tally()
            stop = threading.Event()

            def client() -> httpx.Client:
                return httpx.Client(
                    base_url=proxy.url,
                    headers={"Authorization": f"Token {made['token']}"},
                    timeout=60,
                    limits=httpx.Limits(max_keepalive_connections=0),
                )

            def read() -> None:
                with client() as http:
                    while not stop.is_set():
                        tally.request(http, "GET", f"/api/projects/{made['project_id']}")
                        time.sleep(0.01)

            def run_tests() -> None:
                with client() as http:
                    while not stop.is_set():
                        path = f"/api/projects/{made['project_id']}/tests/run"
                        tally.request(http, "POST", path, json={})

            threads = [threading.Thread(target=read) for _ in range(readers)]
            threads.append(threading.Thread(target=run_tests))
            started = time.monotonic()
            for thread in threads:
                thread.start()
            time.sleep(3)
            exits = []
            for old, replacement_needed in ((a, True), (b, False)):
                assert old.process is not None
                signalled = time.monotonic()
                old.process.send_signal(signal.SIGTERM)
                old.process.wait(60)
                exits.append(time.monotonic() - signalled)
                if replacement_needed:
                    c = machine()
                    servers.append(c.start())
                    proxy.set_backends([b.port, c.port])
                else:
                    proxy.set_backends([c.port])
                time.sleep(1)
            time.sleep(2)
            stop.set()
            for thread in threads:
                thread.join(60)
            took = time.monotonic() - started
            proxy.stop()
        finally:
            for server in servers:
                server.stop()
            redis.kill()
    total = sum(v for k, v in tally.counts.items() if k != "503 without Retry-After")
    print(
        f"rolling restart under load ({readers} reader threads + 1 test-run thread, "
        f"{took:.0f} s, SHUTDOWN_GRACE_SECONDS={grace:g}):"
    )
    print(f"  requests {total} ({total / took:.0f}/s)   " + "   ".join(
        f"{key}: {value}" for key, value in sorted(tally.counts.items())
    ))  # fmt: skip
    print("  SIGTERM -> exit: " + ", ".join(f"{t:.2f} s" for t in exits))
    for line in tally.dropped[:5]:
        print(f"  dropped: {line}")


def exit_times(grace: float, test_seconds: float, counts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        redis = OwnRedis(workdir)
        try:
            print(
                f"SIGTERM -> exit, production server (serve.py, 2 processes, DEBUG off), "
                f"SHUTDOWN_GRACE_SECONDS={grace:g}, each request a {test_seconds:g} s test run:"
            )
            print("in flight   SIGTERM -> exit   answers")
            for in_flight in counts:
                took, answers = _one_exit(workdir, redis, grace, test_seconds, in_flight)
                summary = "   ".join(f"{k}: {v}" for k, v in sorted(answers.items())) or "-"
                print(f"{in_flight:9d}   {took:13.2f} s   {summary}")
        finally:
            redis.kill()


class ProductionServer(AppServer):
    processes = 2


def _one_exit(
    workdir: Path, redis: OwnRedis, grace: float, test_seconds: float, in_flight: int
) -> tuple[float, Counter[str]]:
    run_dir = workdir / f"exit-{in_flight}"
    run_dir.mkdir()
    server = ProductionServer(
        run_dir,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        REDIS_URL=redis.url,
        TEST_SANDBOX="unsafe-subprocess",
        SHUTDOWN_GRACE_SECONDS=str(grace),
        LANE_WAITING="100",
    )
    tally = Tally()
    try:
        server.manage("migrate", "--no-input", "-v0")
        made = create_user_and_project(server)
        _add_test(server, made["project_id"], test_seconds)
        server.start()

        def post() -> None:
            with httpx.Client(
                base_url=server.url,
                headers={"Authorization": f"Token {made['token']}", **PROXY_HEADERS},
                timeout=120,
            ) as http:
                path = f"/api/projects/{made['project_id']}/tests/run"
                tally.request(http, "POST", path, json={})

        threads = [threading.Thread(target=post) for _ in range(in_flight)]
        for thread in threads:
            thread.start()
        time.sleep(1.0 if in_flight else 0.1)
        assert server.process is not None
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(EXIT_WAIT_SECONDS)
        except subprocess.TimeoutExpired:  # hung (the server before graceful shutdown)
            tally.counts[f"still running {EXIT_WAIT_SECONDS} s after SIGTERM, killed"] += 1
            _kill_tree(server.process.pid)
        took = time.monotonic() - signalled
        for thread in threads:
            thread.join(120)
    finally:
        server.stop()
    return took, tally.counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("measure", nargs="?", default="both", choices=["rolling", "exit", "both"])
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--grace", type=float, default=15.0)
    parser.add_argument("--test-seconds", type=float, default=3.0)
    parser.add_argument("--in-flight", default="0,1,50")
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="keep the servers' logs here")
    args = parser.parse_args()
    if args.root is not None:
        AppServer.root = args.root.resolve()
    if args.measure in ("rolling", "both"):
        rolling(args.readers, args.grace, args.keep)
    if args.measure in ("exit", "both"):
        exit_times(args.grace, args.test_seconds, [int(n) for n in args.in_flight.split(",")])


if __name__ == "__main__":
    main()
