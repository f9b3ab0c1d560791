"""Events of any size reach the client, through a real daphne and a real WebSocket client.

An event over WS_EVENT_INLINE_MAX_BYTES (64 KB) comes as a `large_event` whose
`body_url` returns the whole event to the project's owner: a 250 KB model answer (and
its live text), a commit of a file at the code limit, a test's long output. The socket
stays open and `run_finished` arrives. With the threshold raised, a 400 KB event goes
out as one message: autobahn's incoming limit no longer stops what the server sends,
while a client's 65 KB frame is still closed with 1009.
"""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Origin

from agents_app.patching import unified_diff
from tests.support.contract import validate_event
from tests.support.model_server import ModelServer, RecordedRequest, Step, custom_tool_call, text
from tests.support.servers import AppServer, create_user_and_project

INLINE_MAX = 64 * 1024
# 250 KB of a model's answer: lines of text, quotes and a little non-ASCII, so that its
# JSON (escaped) is longer still.
ANSWER = "".join(f'Line {n}: "naïve" café, 50 % → done.\n' for n in range(6000))[:250_000]
# A project file at the default code limit (MAX_CODE_BYTES, 200,000 bytes of UTF-8).
SMALL_CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'


def code_at_the_limit(limit: int = 200_000) -> str:
    head = SMALL_CODE + "\n"
    line = '# "notes" for the bot: café, naïve, 100 %\n'
    body = line * ((limit - len(head.encode())) // len(line.encode()))
    code = head + body
    return code + "#" * (limit - len(code.encode()) - 1) + "\n"


# The patch adds " kindly": the committed file is exactly at the limit.
BIG_CODE = code_at_the_limit(200_000 - len(" kindly"))
BIG_CODE_PATCHED = BIG_CODE.replace('instructions="Help."', 'instructions="Help kindly."')
assert len(BIG_CODE_PATCHED.encode()) == 200_000
# A test whose output fills the sandbox's 64 KB output tail, non-ASCII and quoted.
LOUD_TEST = (
    "for n in range(4000):\n"
    "    print(f'step {n}: \"état\" ✓ {n * 7}')\n"
    "assert False, 'loud and failing'\n"
)


def scripted(request: RecordedRequest) -> Step:
    if "You are the Evaluator" in request.instructions:
        verdict = {"approved": True, "reasoning": "Kind.", "commit_message": "feat: kinder"}
        return text(json.dumps(verdict))
    if "kinder" in request.input_text():
        patch = "Kinder\n" + unified_diff(BIG_CODE, BIG_CODE_PATCHED, "workflow.py")
        return custom_tool_call("submit_patch", patch)
    return text(ANSWER)


class Project:
    """A user's project on the server: its HTTP client and its WebSocket URL."""

    def __init__(self, server: AppServer, made: dict[str, str]) -> None:
        self.server = server
        self.id = made["project_id"]
        self.token = made["token"]
        self.http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Token {self.token}"}, timeout=60
        )
        self.ws_url = f"ws://127.0.0.1:{server.port}/ws/projects/{self.id}/?token={self.token}"

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code in (200, 201, 202), (path, response.text)
        return response.json()

    def session(self) -> str:
        return str(self.ok("POST", f"/api/projects/{self.id}/sessions", json={})["id"])

    def socket(self, max_size: int | None) -> Any:
        return websockets.connect(self.ws_url, origin=Origin("http://localhost"), max_size=max_size)


def served(model: ModelServer, **env: str) -> AppServer:
    server = AppServer(None, OPENAI_BASE_URL=model.base_url, OPENAI_API_KEY="big-events", **env)
    server.manage("migrate", "--no-input", "-v0")
    return server


@pytest.fixture(scope="module")
def model() -> Iterator[ModelServer]:
    server = ModelServer()
    server.start()
    server.route(scripted)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def daphne(model: ModelServer) -> Iterator[AppServer]:
    with served(model) as server:
        server.start()
        yield server


def new_project(server: AppServer, username: str, code: str = SMALL_CODE) -> Project:
    project = Project(server, create_user_and_project(server, username=username))
    if code != SMALL_CODE:  # too long for a command line: through the API
        body = json.dumps({"name": "Big", "code": code}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        made = project.ok("POST", "/api/projects", content=body, headers=headers)
        project = Project(server, {"project_id": made["id"], "token": project.token})
    return project


async def frames_until(
    ws: Any, last: str, session_id: str | None = None, seconds: float = 120
) -> list[dict[str, Any]]:
    """Every event up to and including the first of type `last` (of `session_id`)."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(seconds):
        while True:
            event = json.loads(await ws.recv())
            validate_event(event)
            seen.append(event)
            mine = session_id is None or event.get("session_id") == session_id
            if event["type"] == last and mine:
                return seen


async def still_open(ws: Any) -> None:
    await ws.send('{"type": "ping"}')
    async with asyncio.timeout(10):
        while json.loads(await ws.recv())["type"] != "pong":
            pass


def whole(project: Project, event: dict[str, Any]) -> dict[str, Any]:
    """The event itself: fetched when `event` is a reference to it."""
    if event["type"] != "large_event":
        return event
    response = project.http.get(event["body_url"])
    assert response.status_code == 200, response.text
    assert len(response.content) == event["bytes"]
    body: dict[str, Any] = response.json()
    validate_event(body)
    assert body["type"] == event["event_type"]
    for name, value in event["ids"].items():
        assert body[name] == value
    return body


async def test_a_250_kb_answer_comes_by_reference_and_the_run_finishes(daphne) -> None:
    project = await asyncio.to_thread(new_project, daphne, "ann")
    session_id = await asyncio.to_thread(project.session)
    # The client takes no message over 64 KB: a bigger one would fail its socket (1009).
    async with project.socket(max_size=INLINE_MAX) as ws:
        await asyncio.to_thread(
            project.ok, "POST", f"/api/sessions/{session_id}/messages", json={"prompt": "Hi"}
        )
        events = await frames_until(ws, "run_finished", session_id)
        await still_open(ws)

    assert events[-1]["outcome"] == "text", events[-1]
    references = [e for e in events if e["type"] == "large_event"]
    answer = [e for e in references if e["event_type"] == "conversation_message"]
    assert len(answer) == 1, [(e["type"], e.get("event_type")) for e in events]
    assert answer[0]["ids"]["session_id"] == session_id
    assert answer[0]["bytes"] > len(ANSWER)
    message = await asyncio.to_thread(whole, project, answer[0])
    assert message["content"] == ANSWER
    stored = await asyncio.to_thread(
        project.ok, "GET", f"/api/sessions/{session_id}/messages", params={"limit": 200}
    )
    (kept,) = [m for m in stored["results"] if m["id"] == answer[0]["ids"]["message_id"]]
    assert kept["content"] == message["content"]

    # The live text, in order, whole and referenced alike, is the answer.
    wholes = [await asyncio.to_thread(whole, project, e) for e in events]
    live = "".join(
        e["delta"] for e in wholes if e["type"] == "message_delta" and e["kind"] == "text"
    )
    assert live == ANSWER


async def test_a_reference_is_for_the_projects_owner_only(daphne) -> None:
    project = await asyncio.to_thread(new_project, daphne, "bea")
    other = await asyncio.to_thread(new_project, daphne, "cid")
    session_id = await asyncio.to_thread(project.session)
    async with project.socket(max_size=INLINE_MAX) as ws:
        await asyncio.to_thread(
            project.ok, "POST", f"/api/sessions/{session_id}/messages", json={"prompt": "Hi"}
        )
        events = await frames_until(ws, "run_finished", session_id)
    (reference,) = [
        e
        for e in events
        if e.get("event_type") == "conversation_message" and e["bytes"] > INLINE_MAX
    ]
    url = reference["body_url"]

    assert (await asyncio.to_thread(other.http.get, url)).status_code == 404
    assert (await asyncio.to_thread(httpx.get, daphne.url + url)).status_code == 401
    # Another project's id in the path, even the other user's own: 404.
    elsewhere = url.replace(project.id, other.id)
    assert (await asyncio.to_thread(other.http.get, elsewhere)).status_code == 404
    gone = url.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"
    missing = await asyncio.to_thread(project.http.get, gone)
    assert missing.status_code == 404
    assert "Re-read" in missing.json()["detail"]


async def test_a_commit_of_a_file_at_the_code_limit_sends_code_changed_by_reference(
    daphne,
) -> None:
    project = await asyncio.to_thread(new_project, daphne, "dee", BIG_CODE)
    session_id = await asyncio.to_thread(project.session)
    async with project.socket(max_size=INLINE_MAX) as ws:
        await asyncio.to_thread(
            project.ok,
            "POST",
            f"/api/sessions/{session_id}/messages",
            json={"prompt": "Make the bot kinder"},
        )
        events = await frames_until(ws, "run_finished", session_id)
        assert events[-1]["outcome"] == "diff", events[-1]
        diff_id = events[-1]["diff_id"]
        await asyncio.to_thread(
            project.ok, "POST", f"/api/diffs/{diff_id}/review", json={"approved": True}
        )
        await asyncio.to_thread(project.ok, "POST", f"/api/diffs/{diff_id}/commit", json={})
        after_commit = await frames_until(ws, "diff_status")
        while after_commit[-1]["status"] != "committed":
            after_commit += await frames_until(ws, "diff_status")
        await still_open(ws)

    (reference,) = [e for e in after_commit if e["type"] == "large_event"]
    assert reference["event_type"] == "code_changed"
    assert reference["ids"]["project_id"] == project.id
    changed = await asyncio.to_thread(whole, project, reference)
    assert changed["new_code"] == BIG_CODE_PATCHED
    stored = await asyncio.to_thread(project.ok, "GET", f"/api/projects/{project.id}")
    assert stored["current_code"] == changed["new_code"]
    assert stored["current_commit"] == changed["commit_sha"]


@pytest.mark.usefixtures("bubblewrap")
async def test_a_long_test_output_comes_by_reference(daphne) -> None:
    project = await asyncio.to_thread(new_project, daphne, "eve", BIG_CODE)
    await asyncio.to_thread(
        project.ok,
        "POST",
        f"/api/projects/{project.id}/tests",
        json={"name": "Loud", "test_code": LOUD_TEST, "quick_test": False},
    )
    session_id = await asyncio.to_thread(project.session)
    async with project.socket(max_size=INLINE_MAX) as ws:
        await asyncio.to_thread(
            project.ok,
            "POST",
            f"/api/sessions/{session_id}/messages",
            json={"prompt": "Make the bot kinder"},
        )
        events = await frames_until(ws, "run_finished", session_id)
        diff_id = events[-1]["diff_id"]
        await asyncio.to_thread(project.ok, "POST", f"/api/diffs/{diff_id}/test", json={})
        events = await frames_until(ws, "large_event", seconds=180)
        await still_open(ws)

    reference = events[-1]
    assert reference["event_type"] == "test_completed"
    assert reference["ids"] == {"diff_id": diff_id, "test_name": "Loud"}
    completed = await asyncio.to_thread(whole, project, reference)
    assert completed["status"] == "failed"
    assert "loud and failing" in completed["output"]
    assert "état" in completed["output"]
    diff = await asyncio.to_thread(project.ok, "GET", f"/api/diffs/{diff_id}")
    (result,) = diff["test_results"]
    assert result["output"] == completed["output"]


# --- The outgoing size is not capped by the incoming limit ------------------------------


@pytest.fixture(scope="module")
def daphne_inline(model: ModelServer) -> Iterator[AppServer]:
    """A server that sends every event whole (the reference threshold raised to 1 MB)."""
    with served(model, WS_EVENT_INLINE_MAX_BYTES=str(1024 * 1024)) as server:
        server.start()
        yield server


async def test_a_400_kb_event_goes_out_whole_while_a_65_kb_frame_in_is_refused(
    daphne_inline, model: ModelServer
) -> None:
    project = await asyncio.to_thread(new_project, daphne_inline, "fay")
    session_id = await asyncio.to_thread(project.session)
    answer = ANSWER + ANSWER[:150_000]
    model.script(text(answer))
    async with project.socket(max_size=None) as ws:
        await asyncio.to_thread(
            project.ok, "POST", f"/api/sessions/{session_id}/messages", json={"prompt": "Hi"}
        )
        events = await frames_until(ws, "run_finished", session_id)
        await still_open(ws)
        (message,) = [
            e for e in events if e["type"] == "conversation_message" and e["role"] == "assistant"
        ]
        assert message["content"] == answer
        assert len(json.dumps(message)) > 400_000

        await ws.send("x" * 65 * 1024)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(frames_until(ws, "never"), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert "PayloadExceededError" not in await asyncio.to_thread(daphne_inline.log.read_text)


@pytest.mark.redis
async def test_any_server_process_answers_for_a_body_another_kept(
    model: ModelServer, redis_url: str, tmp_path: Path
) -> None:
    env = {"REDIS_URL": redis_url, "OPENAI_BASE_URL": model.base_url, "OPENAI_API_KEY": "k"}
    with AppServer(tmp_path, **env) as a, AppServer(tmp_path, **env) as b:
        a.manage("migrate", "--no-input", "-v0")
        await asyncio.to_thread(a.start)
        await asyncio.to_thread(b.start)
        on_a = await asyncio.to_thread(new_project, a, "gus")
        on_b = Project(b, {"project_id": on_a.id, "token": on_a.token})
        session_id = await asyncio.to_thread(on_a.session)
        async with on_b.socket(max_size=INLINE_MAX) as ws:
            await asyncio.to_thread(
                on_a.ok, "POST", f"/api/sessions/{session_id}/messages", json={"prompt": "Hi"}
            )
            events = await frames_until(ws, "run_finished", session_id)
        (reference,) = [e for e in events if e.get("event_type") == "conversation_message"]
        message = await asyncio.to_thread(whole, on_b, reference)
        assert message["content"] == ANSWER
