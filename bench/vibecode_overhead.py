"""Backend overhead of a vibecode run, and whether concurrent runs serialise.

Starts the local model server (tests/model_server.py) and a real daphne server with
a temporary database and media directory, then:

1. zero model delay: the median time from `POST /messages` to `run_finished` on the
   WebSocket for a run whose patch the Evaluator approves at once (two model calls):
   the backend's own overhead;
2. 1 s model delay: the wall time of one such run, then of N concurrent runs in N
   projects. Nothing should serialise them: N runs should take about as long as one.

Usage: .venv/bin/python bench/vibecode_overhead.py [--runs 20] [--concurrent 50]
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.typing import Origin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents_app.patching import unified_diff  # noqa: E402
from tests.model_server import ModelServer, RecordedRequest, Step, custom_tool_call, text  # noqa: E402

CODE = 'from agents import Agent\n\nhelper = Agent(name="Helper", instructions="Help.")\n'
NEW_CODE = CODE.replace('"Help."', '"Help kindly."')
PATCH = "Be kind\n" + unified_diff(CODE, NEW_CODE, "agents.py")
VERDICT = json.dumps({"approved": True, "reasoning": "Fine.", "commit_message": "feat: kinder"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def responder(delay: float):
    def answer(request: RecordedRequest) -> Step:
        if "You are the Evaluator" in (request.instructions or ""):
            return text(VERDICT, delay=delay)
        return custom_tool_call("submit_patch", PATCH, delay=delay)

    return answer


class Server:
    """A daphne process on a temporary database and media directory."""

    def __init__(self, model_url: str) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.port = free_port()
        self.env = {
            **os.environ,
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{self.tmp.name}/bench.sqlite3",
            "MEDIA_ROOT": f"{self.tmp.name}/media",
            "OPENAI_BASE_URL": model_url,
            "OPENAI_API_KEY": "bench",
            "OPENAI_AGENTS_DISABLE_TRACING": "1",
            "LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def start(self, projects: int) -> tuple[str, list[tuple[str, str]]]:
        """Migrate, create a user with `projects` projects; returns token and (project, session)."""
        self.manage("migrate", "--no-input", "-v0")
        script = (
            "import json\n"
            "from django.contrib.auth.models import User\n"
            "from rest_framework.authtoken.models import Token\n"
            "from projects.services import create_project\n"
            "from sessions_app.services import get_or_create_session\n"
            "user = User.objects.create_user('bench', password='bench-pass-1')\n"
            "ids = []\n"
            f"for n in range({projects}):\n"
            f"    p = create_project(user, f'Bench {{n}}', {CODE!r})\n"
            "    s, _ = get_or_create_session(p, 'global')\n"
            "    ids.append((str(p.id), str(s.id)))\n"
            "print(json.dumps({'token': Token.objects.create(user=user).key, 'ids': ids}))\n"
        )
        made = json.loads(self.manage("shell", "-c", script).strip().splitlines()[-1])
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "vibegrapher.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return made["token"], [tuple(pair) for pair in made["ids"]]
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("daphne did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.tmp.cleanup()


async def one_run(port: int, token: str, project_id: str, session_id: str) -> float:
    """Seconds from the POST to the `run_finished` event; the run must end with a diff."""
    url = f"ws://127.0.0.1:{port}/ws/projects/{project_id}/?token={token}"
    async with (
        websockets.connect(url, origin=Origin("http://localhost")) as ws,
        httpx.AsyncClient(headers={"Authorization": f"Token {token}"}) as client,
    ):
        started = time.perf_counter()
        response = await client.post(
            f"http://127.0.0.1:{port}/api/sessions/{session_id}/messages",
            json={"prompt": "be kinder"},
        )
        assert response.status_code == 202, response.text
        while True:
            event: dict[str, Any] = json.loads(await ws.recv())
            if event["type"] == "run_finished":
                elapsed = time.perf_counter() - started
                assert event["outcome"] == "diff", event
                return elapsed


async def measure(args: argparse.Namespace) -> None:
    model = ModelServer()
    model.start()
    server = Server(model.base_url)
    try:
        token, ids = server.start(max(args.runs, args.concurrent))
        model.route(responder(0.0))
        await one_run(server.port, token, *ids[0])  # warm-up: imports, first connections
        overheads = [await one_run(server.port, token, *pair) for pair in ids[1 : args.runs]]

        model.route(responder(args.delay))
        single = await one_run(server.port, token, *ids[0])
        started = time.perf_counter()
        concurrent = await asyncio.gather(
            *(one_run(server.port, token, *pair) for pair in ids[: args.concurrent])
        )
        wall = time.perf_counter() - started
    finally:
        server.stop()
        model.stop()

    median = statistics.median(overheads)
    p90 = statistics.quantiles(overheads, n=10)[-1]
    n = args.concurrent
    rows = [
        (
            "approved-patch run, zero model delay: median",
            f"{median * 1e3:.1f} ms",
        ),
        (f"  p90 over {len(overheads)} runs", f"{p90 * 1e3:.1f} ms"),
        (f"one run, {args.delay:g} s per model call", f"{single:.2f} s"),
        (f"{n} concurrent runs in {n} projects: wall", f"{wall:.2f} s"),
        ("  slowest of them", f"{max(concurrent):.2f} s"),
        ("ratio: concurrent wall / one run", f"{wall / single:.2f}x"),
    ]
    print("vibecode overhead (daphne, SQLite, in-memory channel layer, local model server)")
    for label, value in rows:
        print(f"{label:<48} {value:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--delay", type=float, default=1.0)
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
