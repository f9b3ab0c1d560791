"""A run's life across real server processes: ownership, Redis failures, SIGKILL, SIGTERM.

Real daphne processes on one database (a SQLite file, or a PostgreSQL database of
their own), the model replaced by the local server with a delay, a Redis of the
test's own that it kills, and real signals. Heartbeat and stale time are shrunk
through the environment (RUN_HEARTBEAT_SECONDS, RUN_STALE_AFTER_SECONDS).
"""

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
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
from tests.support.servers import AppServer, OwnRedis, create_user_and_project

HEARTBEAT = 0.3
STALE_AFTER = 3.0
FAST_LIVENESS = {
    "RUN_HEARTBEAT_SECONDS": str(HEARTBEAT),
    "RUN_STALE_AFTER_SECONDS": str(STALE_AFTER),
}
CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'
NEW_CODE = CODE.replace("Help.", "Help kindly.")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """One database for every server process of a test: a SQLite file or a new PG database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/shared.sqlite3"
        return
    with scratch_postgres("vibegrapher_runs") as url:
        yield url


@pytest.fixture
def model() -> Iterator[ModelServer]:
    server = ModelServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def servers(tmp_path: Path, model: ModelServer) -> Iterator[Callable[..., list[AppServer]]]:
    """Make daphne processes sharing `tmp_path` (media) and the given database."""
    made: list[AppServer] = []

    def make(count: int, database_url: str, **env: str) -> list[AppServer]:
        for _ in range(count):
            made.append(
                AppServer(
                    tmp_path,
                    DATABASE_URL=database_url,
                    OPENAI_BASE_URL=model.base_url,
                    OPENAI_API_KEY="test-key",
                    LOG_LEVEL="INFO",
                    **{**FAST_LIVENESS, **env},
                )
            )
        made[0].manage("migrate", "--no-input", "-v0")
        return made[-count:]

    yield make
    for server in made:
        server.stop()


class Api:
    """One person's HTTP client on one server process."""

    def __init__(self, server: AppServer, token: str) -> None:
        self.http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Token {token}"}, timeout=30
        )

    def session(self, project_id: str) -> str:
        response = self.http.post(f"/api/projects/{project_id}/sessions", json={})
        assert response.status_code in (200, 201), response.text
        return str(response.json()["id"])

    def send(self, session_id: str, prompt: str = "Make the bot kinder") -> httpx.Response:
        return self.http.post(f"/api/sessions/{session_id}/messages", json={"prompt": prompt})

    def state(self, session_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/sessions/{session_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def until_done(self, session_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state(session_id)
            if state["run_state"] != "running":
                return state
            time.sleep(0.1)
        pytest.fail(f"the run of session {session_id} did not end within {timeout} s")

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        return list(self.http.get(f"/api/sessions/{session_id}/messages").json()["results"])


def test_two_processes_on_one_database_each_keep_their_run(
    database_url: str, servers: Callable[..., list[AppServer]], model: ModelServer
) -> None:
    # The model answers only when the test says so: the runs last as long as needed.
    answer = threading.Event()

    def held_answer(request: RecordedRequest) -> Step:
        answer.wait(60)
        return text("Done, nothing to change.")

    model.route(held_answer)
    a, b = servers(2, database_url)
    one = create_user_and_project(a, username="one", project="One", code=CODE)
    two = create_user_and_project(a, username="two", project="Two", code=CODE)
    a.start()
    on_a = Api(a, one["token"])
    first = on_a.session(one["project_id"])
    started = time.monotonic()
    assert on_a.send(first).status_code == 202
    wait_for_requests(model, 1)

    # B starts while A's run waits on the model: its start-up sweep leaves that run alone.
    b.start()
    one_on_b, two_on_b = Api(b, one["token"]), Api(b, two["token"])
    assert one_on_b.state(first)["run_state"] == "running"
    listed = one_on_b.http.get(f"/api/projects/{one['project_id']}/sessions").json()["results"]
    assert listed[0]["run_state"] == "running"
    # A second message in the same session, on the other process: 409, saying until when.
    refused = one_on_b.send(first, "And more")
    assert refused.status_code == 409, refused.text
    assert "counts as dead" in refused.json()["detail"]
    dead_in = datetime.fromisoformat(refused.json()["run_dead_at"]).timestamp() - time.time()
    assert 0 < dead_in <= STALE_AFTER
    second = two_on_b.session(two["project_id"])
    assert two_on_b.send(second).status_code == 202
    wait_for_requests(model, 2)

    # Longer than the stale time: only A's heartbeats keep its run alive.
    time.sleep(max(0.0, started + STALE_AFTER + 1 - time.monotonic()))
    assert one_on_b.state(first)["run_state"] == "running"
    assert one_on_b.send(first, "And more").status_code == 409
    answer.set()

    for api, session in ((on_a, first), (two_on_b, second)):
        assert api.until_done(session)["run_state"] == "idle"
        assert [(m["role"], m["content"]) for m in api.messages(session)] == [
            ("user", "Make the bot kinder"),
            ("assistant", "Done, nothing to change."),
        ]
    assert len(model.requests) == 2


def test_a_killed_process_run_is_taken_over_after_the_stale_time(
    database_url: str, servers: Callable[..., list[AppServer]], model: ModelServer
) -> None:
    model.script(hang())
    model.route(lambda request: text("Here again."))
    # Long enough that the 409 below surely comes before the killed run is stale.
    stale_after = 6.0
    a, b = servers(2, database_url, RUN_STALE_AFTER_SECONDS=str(stale_after))
    made = create_user_and_project(a, code=CODE)
    a.start()
    b.start()
    on_a, on_b = Api(a, made["token"]), Api(b, made["token"])
    session = on_a.session(made["project_id"])
    url = f"ws://127.0.0.1:{b.port}/ws/projects/{made['project_id']}/?token={made['token']}"
    watcher = connect(url, origin=Origin(f"http://127.0.0.1:{b.port}"), open_timeout=10)
    assert on_a.send(session).status_code == 202
    wait_for_requests(model, 1)
    assert a.process is not None
    a.process.kill()
    a.process.wait()

    # Until the stale time passes, nobody can tell a dead owner from a slow one.
    refused = on_b.send(session, "Anyone there?")
    assert refused.status_code == 409, refused.text
    dead_at = datetime.fromisoformat(refused.json()["run_dead_at"])
    assert on_b.state(session)["run_state"] == "running"
    wait = dead_at.timestamp() - time.time()
    assert 0 < wait <= stale_after
    time.sleep(wait + 0.3)

    state = on_b.state(session)
    assert state["run_state"] == "interrupted"
    assert "send the message again" in state["last_error"]
    # A browser on B (it has its own in-memory channel layer here) learns it too.
    with watcher:
        while (event := json.loads(watcher.recv(timeout=10)))["type"] != "run_finished":
            pass
    assert (event["session_id"], event["outcome"]) == (session, "error")
    assert "stopped answering" in event["error"]
    assert on_b.send(session, "Anyone there?").status_code == 202
    assert on_b.until_done(session)["run_state"] == "idle"
    assert on_b.messages(session)[-1]["content"] == "Here again."


def approving_model(request: RecordedRequest) -> Step:
    """The VibeCoder submits the kinder bot, the Evaluator approves it."""
    if "submit_patch" in json.dumps(request.body.get("tools", [])):
        if request.tool_outputs():
            return text("Submitted.")
        patch = unified_diff(CODE, NEW_CODE, "workflow.py")
        return custom_tool_call("submit_patch", "Kinder bot\n" + patch, delay=1.5)
    return text(verdict(True, "Kinder, as asked.", "feat: kinder bot"))


@pytest.mark.redis
def test_redis_cut_or_killed_mid_run_loses_only_events(
    tmp_path: Path, servers: Callable[..., list[AppServer]], model: ModelServer, own_redis: OwnRedis
) -> None:
    model.route(approving_model)
    (server,) = servers(
        1,
        f"sqlite:///{tmp_path}/db.sqlite3",
        REDIS_URL=own_redis.url,
        EVENT_EMIT_TIMEOUT_SECONDS="0.5",
    )
    made = create_user_and_project(server, code=CODE)
    server.start()
    api = Api(server, made["token"])
    session = api.session(made["project_id"])
    other = api.session(made["project_id"])
    other_node = api.http.post(
        f"/api/projects/{made['project_id']}/sessions",
        json={"session_type": "node", "node_id": "Bot"},
    ).json()["id"]
    assert other == session and other_node != session

    # Cut (Redis stops answering) while the VibeCoder's call is under way.
    assert api.send(session).status_code == 202
    wait_for_requests(model, 1)
    own_redis.freeze()
    # The run stores everything and ends; only its events are lost.
    assert api.until_done(session)["run_state"] == "idle"
    # A message sent while Redis does not answer starts its run at once.
    asked = time.monotonic()
    sent = api.send(other_node, "Anything for the Bot?")
    assert sent.status_code == 202, sent.text
    assert time.monotonic() - asked < 3
    assert api.until_done(other_node)["run_state"] == "idle"
    # /health says so within its probe's time, not after Redis' socket timeout.
    asked = time.monotonic()
    health = api.http.get("/health", timeout=30)
    assert health.status_code == 503 and health.json()["channel_layer"] == "unreachable"
    assert time.monotonic() - asked < 6

    own_redis.kill()
    assert [m["agent"] for m in api.messages(session)][:3] == ["user", "vibecoder", "evaluator"]
    health = api.http.get("/health")
    assert health.status_code == 503 and health.json()["channel_layer"] == "unreachable"
    diff = api.http.get(f"/api/sessions/{session}/diffs").json()["results"][0]
    assert diff["status"] == "evaluator_approved"

    # Review and commit emit too: they answer, and the rows and git agree.
    approved = api.http.post(f"/api/diffs/{diff['id']}/review", json={"approved": True})
    assert approved.status_code == 200, approved.text
    committed = api.http.post(f"/api/diffs/{diff['id']}/commit", json={})
    assert committed.status_code == 200, committed.text
    project = api.http.get(f"/api/projects/{made['project_id']}").json()
    assert project["current_code"] == NEW_CODE
    assert project["current_commit"] == committed.json()["committed_sha"]

    # A message sent while Redis is down starts its run (202, not 500) and it finishes.
    sent = api.send(session, "And now?")
    assert sent.status_code == 202, sent.text
    assert api.until_done(session)["run_state"] == "idle"
    assert [m["content"] for m in api.messages(session)][-2:] == ["And now?", "Submitted."]
    assert "dropped" in server.log.read_text()


def test_sigterm_ends_the_run_with_run_finished_and_interrupted(
    tmp_path: Path, servers: Callable[..., list[AppServer]], model: ModelServer
) -> None:
    model.script(hang())
    (server,) = servers(1, f"sqlite:///{tmp_path}/db.sqlite3")
    made = create_user_and_project(server, code=CODE)
    server.start()
    api = Api(server, made["token"])
    session = api.session(made["project_id"])
    url = f"ws://127.0.0.1:{server.port}/ws/projects/{made['project_id']}/?token={made['token']}"
    with connect(url, origin=Origin(f"http://127.0.0.1:{server.port}"), open_timeout=10) as ws:
        assert api.send(session).status_code == 202
        wait_for_requests(model, 1)
        assert server.process is not None
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        events: list[dict[str, Any]] = []
        while not events or events[-1]["type"] != "run_finished":
            event = json.loads(ws.recv(timeout=10))
            if event["type"] != "heartbeat":
                events.append(event)
    finished = events[-1]
    assert finished["session_id"] == session
    assert finished["outcome"] == "error"
    assert "server is restarting" in finished["error"]
    server.process.wait(timeout=15)
    took = time.monotonic() - signalled
    assert took < 10, f"shutdown took {took:.1f} s"

    row = server.python(
        "import json; from sessions_app.models import VibecodeSession as S; "
        f"s = S.objects.get(id={session!r}); print(json.dumps([s.run_state, s.last_error]))"
    )
    assert row[0] == "interrupted"
    assert "send the message again" in row[1]


@pytest.mark.redis
def test_sigterm_reaches_browsers_on_another_process_and_frees_the_session(
    tmp_path: Path, servers: Callable[..., list[AppServer]], model: ModelServer, redis_url: str
) -> None:
    model.script(hang())
    model.route(lambda request: text("Back again."))
    a, b = servers(2, f"sqlite:///{tmp_path}/db.sqlite3", REDIS_URL=redis_url)
    made = create_user_and_project(a, code=CODE)
    a.start()
    b.start()
    on_a, on_b = Api(a, made["token"]), Api(b, made["token"])
    session = on_a.session(made["project_id"])
    url = f"ws://127.0.0.1:{b.port}/ws/projects/{made['project_id']}/?token={made['token']}"
    with connect(url, origin=Origin(f"http://127.0.0.1:{b.port}"), open_timeout=10) as ws:
        assert on_a.send(session).status_code == 202
        wait_for_requests(model, 1)
        assert a.process is not None
        a.process.send_signal(signal.SIGTERM)
        while (event := json.loads(ws.recv(timeout=10)))["type"] != "run_finished":
            pass
    assert (event["session_id"], event["outcome"]) == (session, "error")
    assert "server is restarting" in event["error"]
    a.process.wait(timeout=15)

    # Ended cleanly, the session is free at once: no waiting for a stale heartbeat.
    assert on_b.state(session)["run_state"] == "interrupted"
    assert on_b.send(session, "Again?").status_code == 202
    assert on_b.until_done(session)["run_state"] == "idle"
    assert on_b.messages(session)[-1]["content"] == "Back again."
