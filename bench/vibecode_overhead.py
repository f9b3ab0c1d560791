"""Backend overhead of a vibecode run, and whether concurrent runs serialise.

Starts the local model server (tests/support/model_server.py) in its own process, as a real
model lives elsewhere, and a real daphne server with a temporary database and media
directory, configured as production runs it (DEBUG off), then:

1. zero model delay: the median time from `POST /messages` to `run_finished` on the
   WebSocket for a run whose patch the Evaluator approves at once (two model calls):
   the backend's own overhead;
2. 1 s model delay: the time of one such run, then the wall time of N concurrent runs
   in N projects, from their POSTs (every watcher connected first) to the last
   `run_finished`. Nothing should serialise them: N runs should take about as long
   as one.

With `--processes N` the server is `python -m vibegrapher.serve --processes N` on a
scratch Redis (bench/redis_scratch.py), so concurrent runs use every core. `--root DIR`
serves another checkout (before/after comparisons); the model server and the clients
are always this checkout's.

Usage: .venv/bin/python bench/vibecode_overhead.py [--runs 20] [--concurrent 50]
       [--processes 1] [--root DIR]
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents_app.patching import unified_diff  # noqa: E402
from bench.cpu import tree_cpu_seconds  # noqa: E402
from bench.redis_scratch import ScratchRedis  # noqa: E402
from tests.support.model_server import (  # noqa: E402
    ModelServer,
    RecordedRequest,
    Step,
    custom_tool_call,
    text,
)
from tests.support.servers import AppServer  # noqa: E402

CODE = 'from agents import Agent\n\nhelper = Agent(name="Helper", instructions="Help.")\n'
NEW_CODE = CODE.replace('"Help."', '"Help kindly."')
PATCH = "Be kind\n" + unified_diff(CODE, NEW_CODE, "workflow.py")
VERDICT = json.dumps({"approved": True, "reasoning": "Fine.", "commit_message": "feat: kinder"})


def responder(delay: "Synchronized[float]") -> Callable[[RecordedRequest], Step]:
    def answer(request: RecordedRequest) -> Step:
        if "You are the Evaluator" in (request.instructions or ""):
            return text(VERDICT, delay=delay.value)
        return custom_tool_call("submit_patch", PATCH, delay=delay.value)

    return answer


def serve_model(delay: "Synchronized[float]", base_url: "Queue[str]") -> None:
    """The model server's process: answers until it is terminated."""
    model = ModelServer()
    model.start()
    model.route(responder(delay))
    base_url.put(model.base_url)
    threading.Event().wait()


SETUP = """
import json
from django.contrib.auth.models import User
from accounts.tokens import create_token
from projects.services import create_project
from sessions_app.services import get_or_create_session
user = User.objects.create_user("bench", password="bench-pass-1")
ids = []
for n in range({projects}):
    project = create_project(user, f"Bench {{n}}", {code!r})
    session, _ = get_or_create_session(project, "global")
    ids.append((str(project.id), str(session.id)))
print(json.dumps({{"token": create_token(user), "ids": ids}}))
"""


async def watch(port: int, token: str, project_id: str) -> ClientConnection:
    """A WebSocket on the project's events, as a browser on its page holds one."""
    url = f"ws://127.0.0.1:{port}/ws/projects/{project_id}/?token={token}"
    return await websockets.connect(url, origin=Origin("http://localhost"))


async def timed_run(
    client: httpx.AsyncClient, port: int, ws: ClientConnection, session_id: str
) -> float:
    """Seconds from the POST to the `run_finished` event; the run must end with a diff."""
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


async def one_run(
    client: httpx.AsyncClient, port: int, token: str, project_id: str, session_id: str
) -> float:
    ws = await watch(port, token, project_id)
    try:
        return await timed_run(client, port, ws, session_id)
    finally:
        await ws.close()


async def concurrent_runs(
    client: httpx.AsyncClient, port: int, token: str, pairs: list[tuple[str, str]]
) -> tuple[float, list[float]]:
    """Wall time of runs started together in `pairs`' projects, and each run's time.

    Every watcher is connected first: like the single run, the wall starts at the
    POSTs, not at the clients' own set-up (which shares the server's cores here).
    """
    sockets = [await watch(port, token, project_id) for project_id, _ in pairs]
    try:
        started = time.perf_counter()
        each = await asyncio.gather(
            *(
                timed_run(client, port, ws, session_id)
                for ws, (_, session_id) in zip(sockets, pairs, strict=True)
            )
        )
        return time.perf_counter() - started, each
    finally:
        for ws in sockets:
            await ws.close()


async def measure(args: argparse.Namespace) -> None:
    context = multiprocessing.get_context("fork")
    delay = context.Value("d", 0.0)
    base_url: Queue[str] = context.Queue()
    model = context.Process(target=serve_model, args=(delay, base_url), daemon=True)
    model.start()
    scratch = ScratchRedis().__enter__() if args.processes > 1 else None
    env: dict[str, str] = scratch.env() if scratch else {}
    server = AppServer(
        None,
        OPENAI_BASE_URL=base_url.get(timeout=30),
        OPENAI_API_KEY="bench",
        WS_MAX_SOCKETS_PER_USER="1000",  # one user watches every concurrent run
        # As production runs: DEBUG off (no query log, database connections kept).
        DEBUG="false",
        SECRET_KEY="bench-only-" + "x" * 40,
        SECURE_SSL_REDIRECT="false",
        **env,
    )
    server.processes = args.processes
    server.root = args.root.resolve()
    try:
        server.manage("migrate", "--no-input", "-v0")
        made = server.python(SETUP.format(projects=max(args.runs, args.concurrent), code=CODE))
        token, ids = made["token"], [tuple(pair) for pair in made["ids"]]
        server.start()
        # One client for every request, as the watchers' browsers are not the server:
        # creating an httpx client costs ~20 ms of CPU, on the cores the server needs.
        client = httpx.AsyncClient(
            headers={"Authorization": f"Token {token}"},
            limits=httpx.Limits(max_connections=args.concurrent),
            timeout=60,
        )
        async with client:
            # Warm-up (imports, first connections, the SDK's first run) of every process.
            # The kernel spreads connections over the processes by their addresses, and
            # a run goes where its POST lands: runs on new connections, five a process.
            for _ in range(5 * args.processes):
                async with httpx.AsyncClient(headers=client.headers) as fresh:
                    await one_run(fresh, server.port, token, *ids[0])
            assert server.process is not None
            server_cpu = tree_cpu_seconds(server.process.pid)
            overheads = [
                await one_run(client, server.port, token, *pair) for pair in ids[1 : args.runs]
            ]
            cpu_per_run = (tree_cpu_seconds(server.process.pid) - server_cpu) / len(overheads)

            delay.value = args.delay
            single = await one_run(client, server.port, token, *ids[0])
            # A small batch first: it shows whether anything serialises the runs while the
            # CPU is not yet the limit; the full batch then shows the CPU's limit.
            walls: dict[int, float] = {}
            for n in sorted({min(10, args.concurrent), args.concurrent}):
                walls[n], concurrent = await concurrent_runs(client, server.port, token, ids[:n])
    finally:
        server.stop()
        model.terminate()
        if scratch:
            scratch.__exit__()

    median = statistics.median(overheads)
    p90 = statistics.quantiles(overheads, n=10)[-1]
    rows = [
        (
            "approved-patch run, zero model delay: median",
            f"{median * 1e3:.1f} ms",
        ),
        (f"  p90 over {len(overheads)} runs", f"{p90 * 1e3:.1f} ms"),
        ("  server CPU per run (all its processes)", f"{cpu_per_run * 1e3:.1f} ms"),
        (f"one run, {args.delay:g} s per model call", f"{single:.2f} s"),
    ]
    for n, wall in walls.items():
        rows += [
            (f"{n} concurrent runs in {n} projects: wall", f"{wall:.2f} s"),
            ("  ratio: concurrent wall / one run", f"{wall / single:.2f}x"),
        ]
    rows.append((f"  slowest of the {args.concurrent}", f"{max(concurrent):.2f} s"))
    layer = "Redis" if args.processes > 1 else "in-memory"
    print(
        f"vibecode overhead ({args.processes} daphne process(es), SQLite, {layer} channel "
        f"layer, local model server; {args.root}; load {os.getloadavg()[0]:.2f})"
    )
    for label, value in rows:
        print(f"{label:<48} {value:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
