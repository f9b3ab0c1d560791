"""What token streaming costs: `message_delta` events and bytes per run and per watcher,
and the daphne process's CPU time, with live deltas (MESSAGE_DELTA_INTERVAL_SECONDS,
0.05 by default) against one flush per response (interval 600 s: no live text).

A real daphne (in-memory channel layer) and the local model server, which streams a
text answer of `--chars` characters, 16 per SSE event, over about `--seconds`. N
watchers hold the project's WebSocket during one run each; figures are per run.

Usage: .venv/bin/python bench/stream_deltas.py [--watchers 200] [--chars 4000] [--seconds 2]
"""

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import httpx
import websockets
from websockets.typing import Origin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.model_server import ModelServer, text
from tests.support.servers import AppServer, create_user_and_project


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def watch(url: str, ready: asyncio.Event, tally: dict[str, int]) -> None:
    async with websockets.connect(url, origin=Origin("http://localhost"), max_queue=None) as ws:
        ready.set()
        while True:
            frame = await ws.recv()
            event = json.loads(frame)
            if event["type"] == "message_delta":
                tally["deltas"] += 1
                tally["delta_bytes"] += len(frame)
            if event["type"] == "run_finished":
                return


async def one_run(interval: str, watchers: int, chars: int, seconds: float) -> dict[str, float]:
    answer = ("lorem ipsum " * (chars // 12 + 1))[:chars]
    model = ModelServer()
    model.start()
    events = chars // 16 + 8
    model.script(text(answer, stream_delay_s=seconds / events))
    server = AppServer(
        OPENAI_BASE_URL=model.base_url,
        OPENAI_API_KEY="bench",
        MESSAGE_DELTA_INTERVAL_SECONDS=interval,
        WS_MAX_SOCKETS_PER_USER=str(watchers + 5),
    )
    try:
        server.manage("migrate", "--no-input", "-v0")
        made = create_user_and_project(server)
        server.start()
        assert server.process is not None
        headers = {"Authorization": f"Token {made['token']}"}
        url = (
            f"ws://127.0.0.1:{server.port}/ws/projects/{made['project_id']}/?token={made['token']}"
        )
        tallies = [{"deltas": 0, "delta_bytes": 0} for _ in range(watchers)]
        tasks = []
        for tally in tallies:
            ready = asyncio.Event()
            tasks.append(asyncio.create_task(watch(url, ready, tally)))
            await ready.wait()
        async with httpx.AsyncClient(timeout=60, headers=headers) as http:
            session = await http.post(f"{server.url}/api/projects/{made['project_id']}/sessions")
            cpu_before = cpu_seconds(server.process.pid)
            started = time.perf_counter()
            sent = await http.post(
                f"{server.url}/api/sessions/{session.json()['id']}/messages",
                json={"prompt": "Say something long"},
            )
            assert sent.status_code == 202, sent.text
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(server.process.pid) - cpu_before
    finally:
        server.stop()
        model.stop()
    return {
        "deltas": tallies[0]["deltas"],
        "bytes": tallies[0]["delta_bytes"],
        "cpu": cpu,
        "elapsed": elapsed,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--watchers", type=int, default=200)
    parser.add_argument("--chars", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"{args.watchers} watchers, {args.chars}-character answer over ~{args.seconds:g} s")
    header = ("interval", "deltas/run", "KB/watcher", "daphne CPU s", "run s")
    print("{:<10} {:>10} {:>10} {:>12} {:>6}".format(*header))
    for interval in ("0.05", "600"):
        row = await one_run(interval, args.watchers, args.chars, args.seconds)
        print(
            f"{interval + ' s':<10} {row['deltas']:>10.0f} {row['bytes'] / 1024:>10.1f} "
            f"{row['cpu']:>12.2f} {row['elapsed']:>6.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
