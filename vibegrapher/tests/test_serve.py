"""`python -m vibegrapher.serve`: N real daphne processes on one port, real signals."""

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.servers import ROOT, AppServer


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


def _soft_open_files_limit(pid: int) -> int:
    with open(f"/proc/{pid}/limits") as limits:
        for line in limits:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no open files limit")


def test_the_server_raises_its_soft_limit_of_open_files() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if wanted <= 1024:
        pytest.skip("the hard limit leaves nothing to raise")
    scratch = AppServer()  # its temporary database and media directory
    server = subprocess.Popen(
        [sys.executable, "-m", "vibegrapher.serve", "-p", str(scratch.port), scratch.app],
        cwd=ROOT, env=scratch.env,
        # As a container often starts it: 1,024 open files.
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # One process: `vibegrapher.serve` becomes daphne, with the limit raised.
        assert _wait(lambda: b"daphne" in Path(f"/proc/{server.pid}/cmdline").read_bytes())
        assert _soft_open_files_limit(server.pid) == wanted
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def two_processes(redis_url: str) -> Iterator[AppServer]:
    server = AppServer(REDIS_URL=redis_url)
    server.processes = 2
    server.manage("migrate", "--no-input", "-v0")
    server.start()
    assert server.process is not None
    yield server
    server.stop()


def _established(pid: int, port: int) -> int:
    """How many established TCP connections on local `port` process `pid` holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    with open("/proc/net/tcp") as table:
        for row in table.readlines()[1:]:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def test_two_processes_share_the_port_and_stop_together(two_processes: AppServer) -> None:
    server = two_processes
    assert server.process is not None
    children = _children(server.process.pid)
    assert len(children) == 2
    # A burst of connections is spread over both children: one process does not take
    # it all while the other idles (as on one shared socket, where the first child to
    # wake accepted everything waiting).
    burst = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(16)]
    try:
        # A plain page: /health waits on a Redis round trip, which a loaded machine can
        # make it time out (503) when 16 arrive at once.
        for connection in burst:
            connection.sendall(b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for connection in burst:
            assert connection.recv(64).startswith(b"HTTP/1.1 200")
        held = [_established(child, server.port) for child in children]
        assert sum(held) == 16
        assert all(held), held
    finally:
        for connection in burst:
            connection.close()
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
