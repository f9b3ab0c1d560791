"""Trial runs: from the request to the first span, and what each span costs.

A real server (daphne, SQLite) runs trials of a one-agent workflow whose model is the
local scripted server of tests/support/model_server.py, answering at once: the agent
calls its tool `step` K times, then answers. A WebSocket client on the project follows
each trial. Printed:

1. start-up: from `POST /api/projects/{id}/trials` (K=0) to the first `trial_span` on
   the socket, with the warm pool (TEST_SANDBOX_WARM=2) and cold (0); p50 and p95;
2. per span: how much longer a trial with K=20 takes than one with K=0, divided by the
   spans it has more (each tool round is a model request, a function span and a
   response span); and the delivery lag, from a span's end in the sandbox (its
   `ended_at`) to its `trial_span` on the socket, p50 and p99.

Usage: DEBUG=true .venv/bin/python bench/trial_startup.py [--runs 10]
"""

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect
from websockets.typing import Origin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import model_server as model  # noqa: E402
from tests.support.servers import AppServer, create_user_and_project  # noqa: E402

WORKFLOW = '''
from agents import Agent, function_tool


@function_tool
def step() -> str:
    """One step."""
    return "stepped"


stepper = Agent(name="Stepper", instructions="Call step, then answer.", tools=[step])
'''


class Steps:
    """The model's script: `step` until the run has called it `count` times."""

    count = 0

    def __call__(self, request: model.RecordedRequest) -> model.Step:
        if len(request.tool_outputs()) < self.count:
            return model.function_call("step", {})
        return model.text("done")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def one_trial(server: AppServer, info: dict[str, str]) -> dict[str, Any]:
    """Start a trial and follow it on the socket; times in seconds since the POST."""
    url = f"ws://127.0.0.1:{server.port}/ws/projects/{info['project_id']}/?token={info['token']}"
    headers = {"Authorization": f"Token {info['token']}"}
    with connect(url, origin=Origin(server.url)) as socket:
        started = time.monotonic()
        answer = httpx.post(
            f"{server.url}/api/projects/{info['project_id']}/trials",
            json={"input": "Go."},
            headers=headers,
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        trial_id = answer.json()["id"]
        first_span = None
        lags: list[float] = []
        spans = set()
        while True:
            event = json.loads(socket.recv(timeout=120))
            if event.get("trial_id") != trial_id:
                continue
            now = time.monotonic()
            if event["type"] == "trial_span":
                spans.add(event["span"]["id"])
                if first_span is None:
                    first_span = now - started
                ended = event["span"]["ended_at"]
                if event["phase"] == "end" and ended:
                    lags.append(time.time() - datetime.fromisoformat(ended).timestamp())
            elif event["type"] == "trial_finished":
                assert event["status"] == "completed", event
                return {
                    "first_span": first_span,
                    "total": now - started,
                    "spans": len(spans),
                    "lags": lags,
                }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores)")
    steps = Steps()
    server_model = model.ModelServer()
    server_model.start()
    server_model.route(steps)
    try:
        for pool in (2, 0):
            env = {
                "TEST_SANDBOX_WARM": str(pool),
                "OPENAI_BASE_URL": server_model.base_url,
                "OPENAI_API_KEY": "bench-key",
                "TRIAL_MAX_MODEL_REQUESTS": "100",
                "TRIAL_MAX_TURNS": "100",
            }
            with AppServer(None, **env) as server:
                server.manage("migrate", "--no-input", "-v0")
                server.start()
                info = create_user_and_project(server, code=WORKFLOW)
                time.sleep(8 if pool else 0)  # the pool fills (an SDK import each)
                steps.count = 0
                startups = []
                for _ in range(args.runs):
                    startups.append(one_trial(server, info)["first_span"])
                    time.sleep(2 if pool else 0)  # the pool refills behind each trial
                label = f"warm pool of {pool}" if pool else "cold (no warm pool)"
                print(
                    f"start-up, request to first span, {label}: p50 "
                    f"{statistics.median(startups) * 1000:.0f} ms, p95 "
                    f"{percentile(startups, 0.95) * 1000:.0f} ms ({args.runs} trials)"
                )
                if not pool:
                    continue
                lags: list[float] = []
                short, long = [], []
                for _ in range(max(3, args.runs // 2)):
                    steps.count = 0
                    short.append(one_trial(server, info))
                    time.sleep(2)
                    steps.count = 20
                    long.append(one_trial(server, info))
                    time.sleep(2)
                for run in short + long:
                    lags += run["lags"]
                extra_time = statistics.median(r["total"] for r in long) - statistics.median(
                    r["total"] for r in short
                )
                extra_spans = long[0]["spans"] - short[0]["spans"]
                print(
                    f"per span (K=20 against K=0: {extra_spans} more spans, "
                    f"{extra_time * 1000:.0f} ms more): "
                    f"{extra_time / extra_spans * 1000:.1f} ms a span, the SDK's work and the "
                    "model server's answers included"
                )
                print(
                    f"delivery lag, span end in the sandbox to its event on the socket: p50 "
                    f"{statistics.median(lags) * 1000:.1f} ms, p99 "
                    f"{percentile(lags, 0.99) * 1000:.1f} ms ({len(lags)} spans)"
                )
    finally:
        server_model.stop()


if __name__ == "__main__":
    main()
