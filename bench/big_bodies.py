"""Memory of a real daphne under large refused bodies: RSS before, at peak, after.

Starts daphne (the app as deployed, SQLite), warms it up, then sends rounds of
concurrent anonymous JSON bodies to `POST /api/auth/token` (limit 4 KB) and samples
the process's resident memory every 20 ms. Every body must be answered 413.

Usage: .venv/bin/python bench/big_bodies.py [--mb 40] [--concurrent 4] [--rounds 3]
"""

import argparse
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.servers import AppServer


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=40)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with AppServer() as server:
        server.start(healthy=False)
        assert server.process is not None
        pid = server.process.pid
        url = f"{server.url}/api/auth/token"
        for _ in range(3):
            httpx.post(url, json={"username": "x", "password": "y"}, timeout=30)
        before = rss_mb(pid)
        peak = before
        sampling = True

        def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, rss_mb(pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        body = b'{"username": "' + b"a" * (args.mb * 1024 * 1024) + b'"}'
        statuses: list[int] = []

        def send() -> None:
            headers = {"Content-Type": "application/json"}
            statuses.append(httpx.post(url, content=body, headers=headers, timeout=120).status_code)

        print(f"{args.concurrent} concurrent {args.mb} MB bodies, {args.rounds} rounds")
        print(f"before            {before:7.1f} MB")
        for round_number in range(1, args.rounds + 1):
            started = time.monotonic()
            threads = [threading.Thread(target=send) for _ in range(args.concurrent)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            time.sleep(0.5)
            print(f"after round {round_number}     {rss_mb(pid):7.1f} MB   ({elapsed:.2f} s)")
        sampling = False
        sampler.join()
        print(f"peak              {peak:7.1f} MB")
        print(f"statuses          {sorted(set(statuses))} x {len(statuses)}")


if __name__ == "__main__":
    main()
