"""The behaviour step: a diff's 5 behaviour cases, before and after.

A real server (daphne, SQLite, a warm pool of 2) and the local scripted model server of
tests/support/model_server.py, answering at once: the seeded triage workflow, whose
triage agent hands off to Billing, and 5 cases (last agent Billing; one with a rubric,
so the judge runs too). `POST /api/diffs/{id}/cases/run` is followed on the WebSocket
until every `case_result` came:

1. first run: each case on the base and on the patched code (10 trials, 1 judge call
   per side of the rubric case);
2. second run: the base results are kept per (commit, case version): 5 trials.

Usage: DEBUG=true .venv/bin/python bench/behaviour_step.py [--rounds 3]
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect
from websockets.typing import Origin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import model_server as model  # noqa: E402
from tests.support.servers import AppServer  # noqa: E402

CASES = 5
SETUP = """
import json
from django.contrib.auth.models import User
from accounts.tokens import create_token
from agents_app.patching.render import unified_diff
from cases.models import BehaviourCase
from projects.sample_workflow import SAMPLE_CODE
from projects.services import create_project
from reviews.models import Diff
from sessions_app.services import get_or_create_session
user = User.objects.create_user("bench", password="bench-pass-123")
project = create_project(user, "Triage", SAMPLE_CODE)
patched = SAMPLE_CODE.replace("Do not answer yourself.", "Do not answer yourself, ever.")
session, _ = get_or_create_session(project, "global")
diffs = []
for _ in range({rounds}):
    diffs.append(str(Diff.objects.create(
        session=session, project=project, base_commit=project.current_commit,
        diff_content=unified_diff(SAMPLE_CODE, patched, "workflow.py"), patched_code=patched,
        vibecoder_prompt="p", evaluator_reasoning="ok", commit_message="m",
    ).id))
for number in range({cases}):
    BehaviourCase.objects.create(
        project=project, name=f"Invoice {{number}}", input=f"Invoice INV-{{number}} is wrong",
        expectations=[{{"kind": "last_agent", "agent": "Billing Agent"}}],
        rubric="Names the invoice." if number == 0 else "",
    )
print(json.dumps({{"token": create_token(user), "project_id": str(project.id), "diffs": diffs}}))
"""


def answers(request: model.RecordedRequest) -> model.Step:
    if request.instructions.startswith("You judge"):
        return model.text(json.dumps({"passed": True, "reason": "Names it."}))
    if request.instructions.startswith("Decide whether"):
        return model.function_call("transfer_to_billing_agent", {})
    return model.text("Invoice checked: it is paid.")


def run_cases(server: AppServer, info: dict[str, str], diff_id: str, expected: int) -> float:
    url = f"ws://127.0.0.1:{server.port}/ws/projects/{info['project_id']}/?token={info['token']}"
    with connect(url, origin=Origin(server.url)) as socket:
        started = time.monotonic()
        answer = httpx.post(
            f"{server.url}/api/diffs/{diff_id}/cases/run",
            headers={"Authorization": f"Token {info['token']}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        seen = 0
        while seen < expected:
            event = json.loads(socket.recv(timeout=300))
            if event["type"] == "case_result" and event["diff_id"] == diff_id:
                assert event["status"] == "passed", event
                seen += 1
        return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores)")
    models = model.ModelServer()
    models.start()
    models.route(answers)
    env = {
        "TEST_SANDBOX_WARM": "2",
        "OPENAI_BASE_URL": models.base_url,
        "OPENAI_API_KEY": "bench-key",
    }
    try:
        with AppServer(None, **env) as server:
            server.manage("migrate", "--no-input", "-v0")
            server.start()
            info = server.python(SETUP.format(rounds=args.rounds, cases=CASES))
            time.sleep(8)  # the pool fills (an SDK import each)
            first = run_cases(server, info, info["diffs"][0], 2 * CASES)
            again = [run_cases(server, info, diff, CASES) for diff in info["diffs"][1:]]
            print(
                f"{CASES} cases, base and patched (10 trials, the judge twice): {first:.1f} s, "
                f"{first / (2 * CASES) * 1000:.0f} ms a case run"
            )
            print(
                f"{CASES} cases, the base kept (5 trials, the judge once): p50 "
                f"{statistics.median(again):.1f} s over {len(again)} diffs, "
                f"{statistics.median(again) / CASES * 1000:.0f} ms a case run"
            )
    finally:
        models.stop()


if __name__ == "__main__":
    main()
