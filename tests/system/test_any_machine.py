"""Any server serves any project: two daphne processes that share only PostgreSQL and Redis.

Each process has its own empty MEDIA_ROOT (as two machines without a shared volume
would), GIT_STORAGE=database and AGENT_MEMORY=database. A project made on one is
run, reviewed, committed and read on either; racing commits on both give one commit;
a run whose process is killed is taken over from the other after the stale heartbeat.
"""

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect
from websockets.typing import Origin

from agents_app.patching import unified_diff
from agents_app.tests.conftest import verdict
from tests.support.fixtures import scratch_postgres, wait_for_requests
from tests.support.model_server import (
    ModelServer,
    RecordedRequest,
    Step,
    custom_tool_call,
    hang,
    text,
)
from tests.support.servers import AppServer, create_user_and_project

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

STALE_AFTER = 4.0
CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'
NEW_CODE = CODE.replace("Help.", "Help kindly.")

MAKE_APPROVED_DIFF = """
import json
from projects.models import Project
from reviews.models import Diff
from sessions_app.services import get_or_create_session
project = Project.objects.get(id={project_id!r})
session, _ = get_or_create_session(project, "global")
made = []
for n in range(2):
    diff = Diff.objects.create(
        session=session, project=project, base_commit=project.current_commit,
        diff_content="(test)", patched_code=project.current_code + f"# race {{n}}\\n",
        status=Diff.Status.HUMAN_APPROVED, commit_message=f"race {{n}}",
    )
    made.append(str(diff.id))
print(json.dumps(made))
"""


@pytest.fixture
def shared_database() -> Iterator[str]:
    """A new PostgreSQL database for both processes, dropped afterwards."""
    with scratch_postgres("vg_any_machine") as url:
        yield url


@pytest.fixture
def model() -> Iterator[ModelServer]:
    server = ModelServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def machines(
    tmp_path: Path, shared_database: str, redis_url: str, model: ModelServer
) -> Iterator[tuple[AppServer, AppServer]]:
    made = []
    for name in ("a", "b"):
        workdir = tmp_path / name
        workdir.mkdir()
        made.append(
            AppServer(
                workdir,
                DATABASE_URL=shared_database,
                REDIS_URL=redis_url,
                GIT_STORAGE="database",
                AGENT_MEMORY="database",
                OPENAI_BASE_URL=model.base_url,
                OPENAI_API_KEY="test-key",
                RUN_HEARTBEAT_SECONDS="0.3",
                RUN_STALE_AFTER_SECONDS=str(STALE_AFTER),
            )
        )
    made[0].manage("migrate", "--no-input", "-v0")
    try:
        yield made[0], made[1]
    finally:
        for server in made:
            server.stop()


def approving_model(request: RecordedRequest) -> Step:
    """The VibeCoder submits the kinder bot, the Evaluator approves it."""
    if "submit_patch" in json.dumps(request.body.get("tools", [])):
        if request.tool_outputs():
            return text("Submitted.")
        patch = unified_diff(CODE, NEW_CODE, "workflow.py")
        return custom_tool_call("submit_patch", "Kinder bot\n" + patch)
    return text(verdict(True, "Kinder, as asked.", "feat: kinder bot"))


class Client:
    def __init__(self, server: AppServer, token: str) -> None:
        self.server = server
        self.http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Token {token}"}, timeout=30
        )

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code in (200, 201, 202), (path, response.text)
        return response.json()

    def until_done(self, session_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.ok("GET", f"/api/sessions/{session_id}")
            if state["run_state"] != "running":
                return dict(state)
            time.sleep(0.1)
        pytest.fail(f"the run of session {session_id} did not end within {timeout} s")


def repositories_on_disk(server: AppServer) -> list[str]:
    root = Path(server.env["MEDIA_ROOT"]) / "projects"
    return [p.name for p in root.iterdir()] if root.exists() else []


@pytest.mark.timeout(180)
def test_two_machines_share_every_project_through_the_database(
    machines: tuple[AppServer, AppServer], model: ModelServer
) -> None:
    a, b = machines
    model.route(approving_model)
    token = create_user_and_project(a)["token"]
    a.start()
    b.start()
    on_a, on_b = Client(a, token), Client(b, token)

    # Made on A...
    project = on_a.ok("POST", "/api/projects", json={"name": "Shared", "code": CODE})
    project_id = project["id"]
    url = f"ws://127.0.0.1:{a.port}/ws/projects/{project_id}/?token={token}"
    with connect(url, origin=Origin(f"http://127.0.0.1:{a.port}"), open_timeout=10) as ws:
        # ...run on B, its events reaching a browser on A.
        session = on_b.ok("POST", f"/api/projects/{project_id}/sessions", json={})["id"]
        on_b.ok("POST", f"/api/sessions/{session}/messages", json={"prompt": "Be kinder"})
        seen: list[str] = []
        while not seen or seen[-1] != "run_finished":
            event = json.loads(ws.recv(timeout=30))
            seen.append(event["type"])
        assert "diff_created" in seen and "conversation_message" in seen, seen
    assert on_b.until_done(session)["run_state"] == "idle"

    # Reviewed on A, committed on B, in the history on A.
    diff = on_a.ok("GET", f"/api/sessions/{session}/diffs")["results"][0]
    assert diff["status"] == "evaluator_approved"
    original = on_a.ok("GET", f"/api/diffs/{diff['id']}")
    assert original["status"] == "evaluator_approved"
    on_a.ok("POST", f"/api/diffs/{diff['id']}/review", json={"approved": True})
    committed = on_b.ok("POST", f"/api/diffs/{diff['id']}/commit", json={})
    commits = on_a.ok("GET", f"/api/projects/{project_id}/commits")["results"]
    assert [c["message"] for c in commits] == ["feat: kinder bot", "Initial agent code"]
    assert commits[0]["sha"] == committed["committed_sha"]
    assert on_a.ok("GET", f"/api/projects/{project_id}")["current_code"] == NEW_CODE

    # Two commits racing on the two machines: exactly one commit and one 409.
    diff_ids = a.python(MAKE_APPROVED_DIFF.format(project_id=project_id))
    start = threading.Barrier(2)
    answers: dict[str, httpx.Response] = {}

    def commit(client: Client, diff_id: str) -> None:
        start.wait()
        answers[diff_id] = client.http.post(f"/api/diffs/{diff_id}/commit", json={})

    racers = [
        threading.Thread(target=commit, args=(client, diff_id))
        for client, diff_id in zip((on_a, on_b), diff_ids, strict=True)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    codes = sorted(answer.status_code for answer in answers.values())
    assert codes == [200, 409], [answer.text for answer in answers.values()]
    winner = next(d for d, answer in answers.items() if answer.status_code == 200)
    for client in (on_a, on_b):
        commits = client.ok("GET", f"/api/projects/{project_id}/commits")["results"]
        assert len(commits) == 3
        assert commits[0]["sha"] == answers[winner].json()["committed_sha"]
        assert (
            client.ok("GET", f"/api/projects/{project_id}")["current_commit"] == (commits[0]["sha"])
        )

    # Nothing of the project's is on either machine's disk.
    assert [n for n in repositories_on_disk(a) + repositories_on_disk(b)
            if not n.startswith(".staging-")] == []  # fmt: skip

    # B dies mid-run: after the stale heartbeat, the session is usable from A.
    model.script(hang())
    model.route(lambda request: text("Here again."))
    asked = len(model.requests)
    on_b.ok("POST", f"/api/sessions/{session}/messages", json={"prompt": "More"})
    wait_for_requests(model, asked + 1)
    assert b.process is not None
    b.process.kill()
    b.process.wait()
    refused = on_a.http.post(f"/api/sessions/{session}/messages", json={"prompt": "Hello?"})
    assert refused.status_code == 409, refused.text
    deadline = time.monotonic() + STALE_AFTER + 10
    while on_a.ok("GET", f"/api/sessions/{session}")["run_state"] == "running":
        assert time.monotonic() < deadline, "the killed run was never taken over"
        time.sleep(0.2)
    assert on_a.ok("GET", f"/api/sessions/{session}")["run_state"] == "interrupted"
    on_a.ok("POST", f"/api/sessions/{session}/messages", json={"prompt": "Hello?"})
    assert on_a.until_done(session)["run_state"] == "idle"
    messages = on_a.ok("GET", f"/api/sessions/{session}/messages")["results"]
    assert messages[-1]["content"] == "Here again."
    # The project's history, read on A, is whole.
    assert len(on_a.ok("GET", f"/api/projects/{project_id}/commits")["results"]) == 3
