"""`python -m vibegrapher.serve`: N real daphne processes on one port, real signals."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.servers import ROOT, AppServer


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in found.stdout.split()]


def _wait(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_more_than_one_process_needs_redis() -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "vibegrapher.serve", "--processes", "2", "-p", "0",
         "vibegrapher.asgi:application"],
        cwd=ROOT, env={**env, "DEBUG": "true"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "needs REDIS_URL" in done.stderr


@pytest.fixture
def two_processes(redis_url: str) -> Iterator[AppServer]:
    server = AppServer(REDIS_URL=redis_url)
    server.processes = 2
    server.manage("migrate", "--no-input", "-v0")
    server.start()
    assert server.process is not None
    yield server
    server.stop()


def test_two_processes_share_the_port_and_stop_together(two_processes: AppServer) -> None:
    server = two_processes
    assert server.process is not None
    children = _children(server.process.pid)
    assert len(children) == 2
    # Both children accept: stop one's accepting by pausing it; the other still answers.
    os.kill(children[0], signal.SIGSTOP)
    try:
        for _ in range(5):
            with httpx.Client(timeout=10) as fresh:  # a new connection each time
                assert fresh.get(f"{server.url}/health").status_code == 200
    finally:
        os.kill(children[0], signal.SIGCONT)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    assert _wait(lambda: not any(_alive(pid) for pid in children))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_a_dead_process_stops_the_server(two_processes: AppServer) -> None:
    server = two_processes
    assert server.process is not None
    children = _children(server.process.pid)
    os.kill(children[0], signal.SIGKILL)
    assert server.process.wait(timeout=30) != 0
    assert _wait(lambda: not _alive(children[1]))
