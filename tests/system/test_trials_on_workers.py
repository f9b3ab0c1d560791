"""Trial runs on a sandbox worker (`SANDBOX_JOBS=queue`): real daphne, a real worker
process (`python -m testruns.worker`), a redis-server of the test's own, the local
scripted model server.

The web process runs no sandbox: it sends the trial to the workers, and the worker runs
it with its model proxy beside the sandbox; spans, the end, and a cancel asked through
the web process reach the same database and sockets as in-process.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from projects.sample_workflow import SAMPLE_CODE
from tests.support import model_server as model
from tests.support.fixtures import bubblewrap  # noqa: F401
from tests.support.servers import AppServer, OwnRedis, create_user_and_project
from tests.support.workers import SandboxWorker, descendants

pytestmark = pytest.mark.usefixtures("bubblewrap")

SECRET = "sk-only-the-worker-and-web-know"


@pytest.fixture
def models() -> Iterator[model.ModelServer]:
    server = model.ModelServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    (tmp_path / "redis").mkdir()
    server = OwnRedis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.kill()


def _until_finished(server: AppServer, headers: dict[str, str], trial_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        trial: dict[str, Any] = httpx.get(
            f"{server.url}/api/trials/{trial_id}", headers=headers, timeout=10
        ).json()
        if trial["status"] not in ("queued", "running"):
            return trial
        time.sleep(0.2)
    raise AssertionError(f"trial {trial_id} did not finish: {trial}")


def test_a_queue_web_server_runs_trials_on_the_worker(
    own_redis: OwnRedis, tmp_path: Path, models: model.ModelServer
) -> None:
    env = {
        "REDIS_URL": own_redis.url,
        "OPENAI_BASE_URL": models.base_url,
        "OPENAI_API_KEY": SECRET,
    }
    worker = SandboxWorker(
        tmp_path, own_redis.url, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", **env
    )
    with AppServer(tmp_path, SANDBOX_JOBS="queue", **env) as server:
        server.manage("migrate", "--no-input", "-v0")
        ids = create_user_and_project(server, code=SAMPLE_CODE)
        server.start()
        worker.start()
        try:
            headers = {"Authorization": f"Token {ids['token']}"}
            url = f"{server.url}/api/projects/{ids['project_id']}/trials"
            models.script(model.function_call("transfer_to_billing_agent", {}), model.text("Paid."))
            answer = httpx.post(url, json={"input": "INV-42?"}, headers=headers, timeout=30)
            assert answer.status_code == 202, answer.text
            trial = _until_finished(server, headers, answer.json()["id"])
            assert (trial["status"], trial["final_output"]) == ("completed", "Paid."), trial
            assert trial["last_agent"] == "Billing Agent"
            agents = [s["name"] for s in trial["spans"] if s["type"] == "agent"]
            assert agents == ["Triage Agent", "Billing Agent"]
            keys = [
                {k.lower(): v for k, v in r.headers.items()}["authorization"]
                for r in models.requests
            ]
            assert keys == [f"Bearer {SECRET}"] * 2
            assert server.process is not None and not descendants(server.process.pid)

            # A cancel asked through the web process stops it on the worker.
            models.reset()
            models.script(model.hang())
            answer = httpx.post(url, json={"input": "Hello?"}, headers=headers, timeout=30)
            trial_id = answer.json()["id"]
            deadline = time.monotonic() + 60
            while not models.requests and time.monotonic() < deadline:
                time.sleep(0.1)
            cancel = httpx.post(f"{server.url}/api/trials/{trial_id}/cancel", headers=headers)
            assert cancel.status_code == 202 and cancel.json() == {"status": "cancelling"}
            assert _until_finished(server, headers, trial_id)["status"] == "cancelled"
        finally:
            worker.stop()
    assert "testruns.call[" in worker.log.read_text()
