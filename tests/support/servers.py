"""Real server processes for black-box tests and benchmarks: daphne on a free port, and
a redis-server of one's own.

Each `AppServer` gets its own temporary database and media directory unless given
shared ones, runs `manage.py` commands in subprocesses, and stops its process.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnRedis:
    """A redis-server of this test's own, on a free port, that it may kill or freeze."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        """Start it (again, after `kill`: on the same port, empty)."""
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise
                time.sleep(0.05)
        client.close()

    def freeze(self) -> None:
        """A cut without a refusal: connections open, nothing ever answers."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class PortTaken(RuntimeError):
    """The port chosen for a server was taken before the server could bind it."""


class AppServer:
    """A daphne process serving `vibegrapher.asgi:application`."""

    app = "vibegrapher.asgi:application"
    # More than one: `python -m vibegrapher.server.serve --processes N` (needs REDIS_URL).
    processes = 1
    # The checkout served (benchmarks compare another one's code with this one).
    root = ROOT

    def __init__(self, workdir: Path | None = None, **env: str) -> None:
        self._tmp = tempfile.TemporaryDirectory() if workdir is None else None
        self.workdir = Path(self._tmp.name) if self._tmp else workdir
        assert self.workdir is not None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            # No warm sandboxes (each costs a full Agents SDK import at start) unless a
            # test or benchmark asks for them.
            "TEST_SANDBOX_WARM": "0",
            **os.environ,
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{self.workdir}/db.sqlite3",
            "MEDIA_ROOT": str(self.workdir / "media"),
            "OPENAI_AGENTS_DISABLE_TRACING": "1",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.workdir / f"daphne-{self.port}.log"

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def python(self, code: str) -> Any:
        """Run `code` in `manage.py shell`; its last printed line is parsed as JSON."""
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def start(self, healthy: bool = True) -> "AppServer":
        """Start daphne; wait until /health answers 200 (or answers at all, if not `healthy`).

        A port found free can be taken by another process before daphne binds it: then
        the server starts again on another free port (before anyone could reach it)."""
        for _ in range(3):
            try:
                return self._start(healthy)
            except PortTaken:
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
        return self._start(healthy)

    def _start(self, healthy: bool) -> "AppServer":
        with self.log.open("wb") as log:
            server = (
                ["-m", "daphne"]
                if self.processes == 1
                else ["-m", "vibegrapher.server.serve", "--processes", str(self.processes)]
            )
            self.process = subprocess.Popen(
                [sys.executable, *server, "-b", "127.0.0.1", "-p", str(self.port), self.app],
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log.read_text()
                if "Address already in use" in output:
                    raise PortTaken(output)
                raise RuntimeError(f"daphne exited:\n{output}")
            try:
                status = httpx.get(f"{self.url}/health", timeout=5).status_code
                if status == 200 or not healthy:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"daphne did not answer /health:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "AppServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


CREATE_USER_AND_PROJECT = """
import json
from django.contrib.auth.models import User
from accounts.tokens import create_token
from projects.services import create_project
user = User.objects.create_user({username!r}, password={password!r})
project = create_project(user, {project!r}, {code!r})
print(json.dumps({{"token": create_token(user), "project_id": str(project.id)}}))
"""


def create_user_and_project(
    server: AppServer,
    username: str = "walker",
    password: str = "walker-pass-123",
    project: str = "Black Box",
    code: str = "from agents import Agent\n\nbot = Agent(name='Bot')\n",
) -> dict[str, str]:
    script = CREATE_USER_AND_PROJECT.format(
        username=username, password=password, project=project, code=code
    )
    result: dict[str, str] = server.python(script)
    return result
