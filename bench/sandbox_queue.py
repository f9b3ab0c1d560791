"""Sandboxed jobs on workers (testruns/jobs.py, testruns/worker.py): what the queue costs
and what it buys.

1. `page`: another user's `GET /api/projects/{id}` (p50/p99) on one daphne process,
   alone, then while `POST /api/projects/{id}/tests/run` runs 50 quick tests, with the
   tests run in the web process (`SANDBOX_JOBS=inline`) and then on a worker
   (`SANDBOX_JOBS=queue`). The web process and everything it starts is pinned to CPU 0,
   the worker to CPU 1: two machines' worth of cores on one two-core host.
2. `throughput`: jobs per second of one worker on one core (concurrency 1, pinned),
   trivial jobs (`print`) and 0.1 s of CPU each, cold sandboxes.
3. `burst`: 50 jobs of 10 users sent at once to one worker (concurrency 2): the queue
   wait (sent until running) p50/p99, and the burst's end.

Each case on a redis-server of its own. Usage:
  .venv/bin/python bench/sandbox_queue.py [--parts page throughput burst] [--seconds 2]
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibegrapher.settings")
os.environ.setdefault("DEBUG", "true")

import django  # noqa: E402

django.setup()

from django.test import override_settings  # noqa: E402

from testruns import jobs  # noqa: E402
from testruns.sandbox import limits_for  # noqa: E402
from tests.support.servers import AppServer, OwnRedis  # noqa: E402
from tests.support.workers import SandboxWorker, run_queued  # noqa: E402

QUICK_TESTS = 50
BURN = "x = 0\nfor i in range({n}):\n    x += i\nprint(x)\n"
# About 0.3 s of CPU here: each quick test of the page case.
PAGE_TEST = BURN.format(n=6_000_000)
# About 0.1 s of CPU.
SMALL_JOB = BURN.format(n=2_000_000)

SETUP = """
import json
from django.contrib.auth.models import User
from accounts.tokens import create_token
from projects.models import TestCase
from projects.services import create_project
busy = User.objects.create_user("busy", password="busy-pass-123")
tested = create_project(busy, "Tested", None)
for n in range({count}):
    TestCase.objects.create(project=tested, name=f"quick {{n}}", test_code={code!r},
                            quick_test=True)
reader = User.objects.create_user("reader", password="reader-pass-123")
mine = create_project(reader, "Mine", None)
print(json.dumps({{"busy_token": create_token(busy), "tested": str(tested.id),
                   "token": create_token(reader), "project": str(mine.id)}}))
"""


def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of `pid` (children started later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


def cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid` itself (not its sandboxes: bubblewrap's are not reaped into it)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def read_for(url: str, token: str, stop: threading.Event, seconds: float) -> list[float]:
    times: list[float] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(headers={"Authorization": f"Token {token}"}, timeout=30) as client:
        while not stop.is_set() and time.monotonic() < deadline:
            began = time.perf_counter()
            assert client.get(url).status_code == 200
            times.append(time.perf_counter() - began)
    return times


def figures(label: str, times: list[float]) -> None:
    print(
        f"  {label:<34} n={len(times):>5}  p50 {1000 * statistics.median(times):6.1f} ms"
        f"  p99 {1000 * percentile(times, 0.99):6.1f} ms  max {1000 * max(times):6.1f} ms"
    )


def page(seconds: float) -> None:
    print(f"page: GET another user's project during {QUICK_TESTS} quick tests (web CPU 0)")
    for mode in ("inline", "queue"):
        page_case(mode, seconds)


def page_case(mode: str, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = OwnRedis(Path(tmp))
        worker = None
        server = AppServer(
            Path(tmp), REDIS_URL=redis_server.url, SANDBOX_JOBS=mode, TEST_SANDBOX_CONCURRENCY="2"
        )
        try:
            server.manage("migrate", "--no-input")
            ids = server.python(SETUP.format(count=QUICK_TESTS, code=PAGE_TEST))
            server.start()
            assert server.process is not None
            pin(server.process.pid, {0})
            if mode == "queue":
                worker = SandboxWorker(Path(tmp), redis_server.url, TEST_SANDBOX_CONCURRENCY="2")
                pin(worker.start().pid, {1})
            url = f"{server.url}/api/projects/{ids['project']}"
            read_for(url, ids["token"], threading.Event(), 1.0)  # warm-up
            if mode == "inline":
                figures("alone", read_for(url, ids["token"], threading.Event(), seconds))
            stop = threading.Event()
            done: dict[str, Any] = {}

            def run_tests() -> None:
                began = time.monotonic()
                answer = httpx.post(
                    f"{server.url}/api/projects/{ids['tested']}/tests/run",
                    json={"quick_only": True},
                    headers={"Authorization": f"Token {ids['busy_token']}"},
                    timeout=600,
                )
                done["seconds"] = time.monotonic() - began
                done["statuses"] = sorted({r["status"] for r in answer.json().get("results", [])})
                stop.set()

            runner = threading.Thread(target=run_tests)
            own = cpu_seconds(server.process.pid)
            runner.start()
            time.sleep(0.2)
            times = read_for(url, ids["token"], stop, 600)
            runner.join()
            own = cpu_seconds(server.process.pid) - own
            figures(f"50 quick tests, {mode}", times)
            print(
                f"    (the 50 tests took {done['seconds']:.1f} s: {done['statuses']}; the web "
                f"process's own CPU meanwhile {own:.1f} s, {1000 * own / len(times):.1f} ms a read)"
            )
        finally:
            if worker is not None:
                worker.stop()
            server.stop()
            redis_server.kill()


def send(count: int, code: str, users: int, waits: list[float]) -> Any:
    async def work() -> float:
        async def one(n: int) -> None:
            sent = time.monotonic()

            async def running() -> None:
                waits.append(time.monotonic() - sent)

            result = await jobs.run_sandboxed(
                {"t.py": code}, "t.py", limits_for(quick=True), user_id=n % users,
                on_start=running,
            )  # fmt: skip
            assert result.status == "passed", result.output

        began = time.monotonic()
        await asyncio.gather(*(one(n) for n in range(count)))
        return time.monotonic() - began

    return work


def throughput() -> None:
    print("throughput: one worker, concurrency 1, pinned to CPU 1, 100 jobs sent at once")
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = OwnRedis(Path(tmp))
        worker = SandboxWorker(Path(tmp), redis_server.url, TEST_SANDBOX_CONCURRENCY="1").start()
        pin(worker.pid, {1})
        try:
            for label, code in (("print", "print(1)\n"), ("0.1 s of CPU", SMALL_JOB)):
                waits: list[float] = []
                took = run_queued(
                    send(100, code, 100, waits), redis_server.url, SANDBOX_JOBS_PER_USER=100
                )
                # The same jobs in this process (pinned to CPU 1 too): what the queue adds.
                own = os.sched_getaffinity(0)
                os.sched_setaffinity(0, {1})
                try:
                    with override_settings(SANDBOX_JOBS="inline", TEST_SANDBOX_CONCURRENCY=1):
                        inline = asyncio.run(send(100, code, 100, [])())
                finally:
                    os.sched_setaffinity(0, own)
                print(
                    f"  {label:<14} {100 / took:6.1f} jobs/s per core ({took:.1f} s for 100); "
                    f"in-process {100 / inline:6.1f} jobs/s"
                )
        finally:
            worker.stop()
            redis_server.kill()


def burst() -> None:
    print("burst: 50 jobs (0.1 s of CPU) of 10 users at once, one worker, concurrency 2")
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = OwnRedis(Path(tmp))
        worker = SandboxWorker(Path(tmp), redis_server.url, TEST_SANDBOX_CONCURRENCY="2").start()
        try:
            run_queued(send(4, "print(1)\n", 4, []), redis_server.url)  # warm-up
            waits: list[float] = []
            took = run_queued(send(50, SMALL_JOB, 10, waits), redis_server.url)
            print(
                f"  queue wait p50 {1000 * statistics.median(waits):.0f} ms, "
                f"p99 {1000 * percentile(waits, 0.99):.0f} ms; all 50 done in {took:.1f} s"
            )
        finally:
            worker.stop()
            redis_server.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", nargs="+", default=["page", "throughput", "burst"])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(json.dumps({"uptime": os.popen("uptime").read().strip()}))
    for part in args.parts:
        if part == "page":
            page(args.seconds)
        elif part == "throughput":
            throughput()
        elif part == "burst":
            burst()


if __name__ == "__main__":
    main()
