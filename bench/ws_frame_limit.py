"""Oversized WebSocket frames against a real daphne: the close code each client sees,
how long it took, and the server's resident memory before and after.

daphne (autobahn) checks a frame's length from its header and, with the limit set by
sessions_app/daphne_limits.py, closes with 1009 without buffering the payload; this
shows that the memory stays flat while clients push frames far over the limit.

Usage: .venv/bin/python bench/ws_frame_limit.py [--frames 10] [--mb 20]
"""

import argparse
import asyncio
import sys
import time
from pathlib import Path

import websockets
from websockets.typing import Origin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.servers import AppServer, create_user_and_project


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def push(url: str, size: int) -> tuple[int | None, float]:
    started = time.perf_counter()
    async with websockets.connect(url, origin=Origin("http://localhost"), max_size=None) as ws:
        try:
            await ws.send("x" * size)
            while True:
                await asyncio.wait_for(ws.recv(), 30)
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
    return code, time.perf_counter() - started


async def run(url: str, frames: int, size: int) -> list[tuple[int | None, float]]:
    return await asyncio.gather(*(push(url, size) for _ in range(frames)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=10, help="concurrent clients, one frame each")
    parser.add_argument("--mb", type=int, default=20, help="size of each frame in MB")
    args = parser.parse_args()
    with AppServer(WS_MAX_SOCKETS_PER_USER=str(args.frames + 1)) as server:
        server.manage("migrate", "--no-input", "-v0")
        made = create_user_and_project(server)
        server.start()
        assert server.process is not None
        url = (
            f"ws://127.0.0.1:{server.port}/ws/projects/{made['project_id']}/?token={made['token']}"
        )
        before = rss_mb(server.process.pid)
        results = asyncio.run(run(url, args.frames, args.mb * 1024 * 1024))
        after = rss_mb(server.process.pid)
    codes = sorted({code for code, _ in results}, key=str)
    slowest = max(seconds for _, seconds in results)
    print(f"{args.frames} concurrent frames of {args.mb} MB: close codes {codes}")
    print(f"slowest client until closed: {slowest:.2f} s")
    print(f"daphne RSS: {before:.0f} MB before, {after:.0f} MB after")


if __name__ == "__main__":
    main()
