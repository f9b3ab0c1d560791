"""Real sandbox worker processes (`python -m testruns.worker`) for system tests and
benchmarks, and a way to send them jobs from this process as a web process would."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import redis

from tests.support.servers import ROOT

START_TIMEOUT_SECONDS = 30.0


class SandboxWorker:
    """One worker on `redis_url`, its log in `workdir`."""

    def __init__(self, workdir: Path, redis_url: str, prefix: str = "", **env: str) -> None:
        self.log = workdir / f"worker-{time.monotonic_ns()}.log"
        self.env = {
            "TEST_SANDBOX_WARM": "0",
            **os.environ,
            "DEBUG": "true",
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "DATABASE_URL": f"sqlite:///{workdir}/unused.sqlite3",
            "MEDIA_ROOT": str(workdir / "media"),
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "SandboxWorker":
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "testruns.worker"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while " ready." not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the worker did not start:\n{self.log.read_text()}")
            time.sleep(0.1)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def claimed_by(redis_url: str, prefix: str = "") -> dict[str, int]:
    """The running attempts and the pid of the worker holding each."""
    client = redis.Redis.from_url(redis_url)
    try:
        found: dict[str, int] = {}
        for name in client.scan_iter(f"{prefix}sandbox:job:*:claim"):
            value = client.get(name)
            if isinstance(value, bytes) and value != b"abandoned":
                found[name.decode().split(":")[-2]] = int(value.decode().rsplit(":", 1)[1])
        return found
    finally:
        client.close()


def run_queued(
    work: Callable[[], Coroutine[Any, Any, Any]], redis_url: str, prefix: str = "", **overrides: Any
) -> Any:
    """Run `work` (which calls `testruns.jobs.run_sandboxed`) as a web process of
    `SANDBOX_JOBS=queue` on `redis_url` would."""
    from django.test import override_settings

    from testruns import jobs

    jobs.celery_app.cache_clear()
    try:
        with override_settings(
            SANDBOX_JOBS="queue", SANDBOX_BROKER_URL=redis_url, REDIS_KEY_PREFIX=prefix, **overrides
        ):
            return asyncio.run(work())
    finally:
        jobs.celery_app.cache_clear()
