"""Trial runs through the real SDK in a real sandbox, the model a local scripted server."""

import asyncio
import json
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.tokens import create_token
from projects.models import Project
from projects.sample_workflow import SAMPLE_CODE
from projects.services import create_project
from tests.support import model_server as model
from tests.support.diffs import make_diff
from tests.support.fixtures import TokenClient, open_project_socket
from tests.support.model_server import ModelServer
from trials import runs
from trials.models import Trial

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("bubblewrap")]


async def _start(api: TokenClient, project: Project, body: Mapping[str, object]) -> dict[str, Any]:
    response = await api.post(
        f"/api/projects/{project.id}/trials", body, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    started: dict[str, Any] = response.json()
    return started


async def _finished(api: TokenClient, trial_id: object) -> dict[str, Any]:
    task = runs.running_task(uuid.UUID(str(trial_id)))
    if task is not None:
        await asyncio.wait_for(asyncio.shield(task), 90)
    response = await api.get(f"/api/trials/{trial_id}")
    assert response.status_code == 200, response.content
    trial: dict[str, Any] = response.json()
    return trial


@pytest.mark.parametrize("api", ["model_server", "chat_model_server"])
async def test_a_handoff_is_traced_in_order(
    user: User, async_api: TokenClient, api: str, request: pytest.FixtureRequest
) -> None:
    # Responses and Chat Completions (OPENAI_API): the same trace, the usage read from both.
    model_server: ModelServer = request.getfixturevalue(api)
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    model_server.script(
        model.function_call("transfer_to_billing_agent", {}),
        model.function_call("lookup_invoice", {"invoice_id": "INV-42"}),
        model.text("Invoice INV-42 is paid: 49.00 USD."),
    )
    started = await _start(async_api, project, {"input": "Is INV-42 paid?"})
    assert started["status"] == "queued"
    trial = await _finished(async_api, started["id"])
    assert trial["status"] == "completed", trial
    assert trial["final_output"] == "Invoice INV-42 is paid: 49.00 USD."
    assert trial["last_agent"] == "Billing Agent"
    assert trial["entry"] == "Triage Agent"
    assert trial["usage"] == {
        "requests": 3, "input_tokens": 33, "output_tokens": 21, "total_tokens": 54
    }  # fmt: skip
    spans = trial["spans"]
    assert isinstance(spans, list)
    story = [(s["type"], s["name"]) for s in spans if s["type"] in ("agent", "handoff", "function")]
    assert story == [
        ("agent", "Triage Agent"),
        ("handoff", "Triage Agent → Billing Agent"),
        ("agent", "Billing Agent"),
        ("function", "lookup_invoice"),
    ]
    tool = next(s for s in spans if s["type"] == "function")
    assert "Invoice INV-42: 49.00 USD, paid" in tool["data"]["output"]
    # The model server saw the real key on every request, never the capability.
    keys = [
        {k.lower(): v for k, v in r.headers.items()}["authorization"] for r in model_server.requests
    ]
    assert keys == ["Bearer test-key"] * 3


SECRET = "sk-the-real-key-never-in-the-sandbox"

SNOOPING = '''
import os
import sys
from pathlib import Path
from agents import Agent, function_tool


@function_tool
def snoop() -> str:
    """Everything the sandbox can see."""
    seen = [f"{k}={v}" for k, v in os.environ.items()]
    python = (sys.prefix, sys.base_prefix)  # mounted in, wherever the checkout lies
    for root in ("/sandbox", "/tmp", "/run", "/dev/shm"):
        for folder, folders, files in os.walk(root):
            folders[:] = [f for f in folders if not os.path.join(folder, f).startswith(python)]
            for name in files:
                path = Path(folder, name)
                seen.append(str(path))
                if path.is_file() and path.stat().st_size < 100_000:
                    seen.append(path.read_text(errors="replace"))
    return "\\n".join(seen)


snooper = Agent(name="Snooper", instructions="Look around.", tools=[snoop])
'''


async def test_the_key_never_enters_the_sandbox(
    user: User, async_api: TokenClient, model_server: ModelServer, settings
) -> None:
    settings.OPENAI_API_KEY = SECRET
    project = await sync_to_async(create_project)(user, "Snoop", SNOOPING)
    model_server.script(model.function_call("snoop", {}), model.text("Seen it."))
    started = await _start(async_api, project, {"input": "Look."})
    trial = await _finished(async_api, started["id"])
    assert trial["status"] == "completed", trial
    tool = next(s for s in trial["spans"] if s["type"] == "function")
    seen = tool["data"]["output"]
    assert "OPENAI_API_KEY=" in seen and "trial.json" in seen  # it did look
    assert SECRET not in seen and SECRET not in str(trial)
    keys = [
        {k.lower(): v for k, v in r.headers.items()}["authorization"] for r in model_server.requests
    ]
    assert keys == [f"Bearer {SECRET}"] * 2


LOOPING = '''
from agents import Agent, function_tool


@function_tool
def again() -> str:
    """Ask again."""
    return "again"


looper = Agent(name="Looper", instructions="Call again forever.", tools=[again])
'''


async def test_a_looping_workflow_stops_at_the_request_limit(
    user: User, async_api: TokenClient, model_server: ModelServer, settings
) -> None:
    settings.TRIAL_MAX_MODEL_REQUESTS = 3
    project = await sync_to_async(create_project)(user, "Loop", LOOPING)
    model_server.route(lambda request: model.function_call("again", {}))
    started = await _start(async_api, project, {"input": "Go."})
    trial = await _finished(async_api, started["id"])
    assert trial["status"] == "failed"
    assert "model request limit (3 requests)" in str(trial["error"])
    assert "TRIAL_MAX_MODEL_REQUESTS" in str(trial["error"])
    assert len(model_server.requests) == 3
    assert trial["usage"]["requests"] == 3


async def test_cancel_stops_a_running_trial(
    user: User, async_api: TokenClient, model_server: ModelServer
) -> None:
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    model_server.script(model.hang())
    started = await _start(async_api, project, {"input": "Hello?"})
    for _ in range(200):  # until the model has the request: the run is under way
        if model_server.requests:
            break
        await asyncio.sleep(0.05)
    assert model_server.requests
    response = await async_api.post(f"/api/trials/{started['id']}/cancel")
    assert response.status_code == 200 and response.json() == {"status": "cancelled"}
    trial = await _finished(async_api, started["id"])
    assert trial["status"] == "cancelled"
    response = await async_api.post(f"/api/trials/{started['id']}/cancel")
    assert response.status_code == 409


async def test_a_cancel_asked_through_another_process_is_seen(
    user: User, async_api: TokenClient, model_server: ModelServer
) -> None:
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    model_server.script(model.hang())
    started = await _start(async_api, project, {"input": "Hello?"})
    trial_id = uuid.UUID(str(started["id"]))
    # As another process does: it has no task of this trial, so it sets the flag.
    await Trial.objects.filter(id=trial_id).aupdate(cancel_requested=True)
    task = runs.running_task(trial_id)
    assert task is not None
    await asyncio.wait_for(asyncio.shield(task), 5)
    assert (await Trial.objects.aget(id=trial_id)).status == "cancelled"


PATIENT = SAMPLE_CODE.replace("step by step.", "step by step, patiently.")


async def test_base_and_patched_give_their_own_answers(
    user: User, async_api: TokenClient, model_server: ModelServer
) -> None:
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    diff = await sync_to_async(make_diff)(project, PATIENT)

    def answer(request: model.RecordedRequest) -> model.Step:
        return model.text("patient" if "patiently" in request.instructions else "hasty")

    model_server.route(answer)
    body = {"input": "Help", "diff_id": str(diff.id), "entry": "Technical Support Agent"}
    base = await _start(async_api, project, {**body, "side": "base"})
    patched = await _start(async_api, project, body)  # patched by default
    base_trial = await _finished(async_api, base["id"])
    patched_trial = await _finished(async_api, patched["id"])
    assert (base_trial["final_output"], base_trial["side"]) == ("hasty", "base")
    assert (patched_trial["final_output"], patched_trial["side"]) == ("patient", "patched")
    assert base_trial["commit"] == project.current_commit and patched_trial["commit"] == ""
    listed = (await async_api.get(f"/api/projects/{project.id}/trials?diff_id={diff.id}")).json()
    assert {t["id"] for t in listed["results"]} == {base["id"], patched["id"]}
    assert "spans" not in listed["results"][0]


async def test_another_users_trials_are_invisible(
    user: User, other_user: User, async_api: TokenClient, model_server: ModelServer
) -> None:
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    model_server.script(model.text("Hi."))
    started = await _start(async_api, project, {"input": "Hi"})
    await _finished(async_api, started["id"])
    other = TokenClient(await sync_to_async(create_token)(other_user))
    assert (await other.get(f"/api/trials/{started['id']}")).status_code == 404
    assert (await other.post(f"/api/trials/{started['id']}/cancel")).status_code == 404
    assert (await other.get(f"/api/projects/{project.id}/trials")).status_code == 404
    response = await other.post(
        f"/api/projects/{project.id}/trials", {"input": "x"}, content_type="application/json"
    )
    assert response.status_code == 404


async def test_errors_say_what_to_do(
    user: User, async_api: TokenClient, model_server: ModelServer, settings
) -> None:
    url_of = "/api/projects/{}/trials".format
    broken = await sync_to_async(create_project)(
        user,
        "Broken",
        "from agents import Agent\nraise RuntimeError('no config file')\na = Agent(name='A')\n",
    )
    started = await _start(async_api, broken, {"input": "Hi"})
    trial = await _finished(async_api, started["id"])
    assert trial["status"] == "failed"
    assert str(trial["error"]).startswith("The workflow does not import:")
    assert "RuntimeError: no config file" in str(trial["error"])

    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    response = await async_api.post(
        url_of(project.id), {"input": "Hi", "entry": "Nobody"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "Triage Agent" in response.json()["detail"]
    for body, field in [({"input": "  "}, "input"), ({"input": "x", "side": "left"}, "side")]:
        response = await async_api.post(url_of(project.id), body, content_type="application/json")
        assert response.status_code == 400 and field in response.json(), response.content
    response = await async_api.post(
        url_of(project.id), {"input": "x", "side": "base"}, content_type="application/json"
    )
    assert response.status_code == 409 and "diff_id" in response.json()["detail"]
    response = await async_api.get(f"/api/projects/{project.id}/trials?diff_id=")
    assert response.status_code == 400 and "diff_id" in response.json()

    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    response = await async_api.post(
        url_of(project.id), {"input": "Hi"}, content_type="application/json"
    )
    assert response.status_code == 409 and "OPENAI_API_KEY" in response.json()["detail"]


NETWORKED = '''
import urllib.request
from agents import Agent, function_tool


@function_tool
def fetch_weather(city: str) -> str:
    """The weather."""
    return urllib.request.urlopen(f"http://example.com/{city}", timeout=3).read().decode()


weather = Agent(name="Weather", instructions="Use fetch_weather.", tools=[fetch_weather])
'''


async def test_a_tool_that_needs_the_network_fails_in_its_span(
    user: User, async_api: TokenClient, model_server: ModelServer
) -> None:
    project = await sync_to_async(create_project)(user, "Weather", NETWORKED)
    model_server.script(
        model.function_call("fetch_weather", {"city": "Paris"}), model.text("No weather today.")
    )
    started = await _start(async_api, project, {"input": "Weather in Paris?"})
    trial = await _finished(async_api, started["id"])
    assert trial["status"] == "completed", trial
    tool = next(s for s in trial["spans"] if s["type"] == "function")
    assert tool["data"]["error"]
    assert tool["data"]["network"] == ["example.com:80"]
    assert "no network" in tool["data"]["hint"]


async def test_a_trial_over_its_time_is_stopped(
    user: User, async_api: TokenClient, model_server: ModelServer, settings
) -> None:
    settings.TRIAL_WALL_SECONDS = 3
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    model_server.script(model.hang())
    started = await _start(async_api, project, {"input": "Hello?"})
    trial = await _finished(async_api, started["id"])
    assert trial["status"] == "timeout"
    assert "TRIAL_WALL_SECONDS" in str(trial["error"])


async def test_the_project_socket_follows_a_trial(
    user: User, async_api: TokenClient, model_server: ModelServer
) -> None:
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    socket = await open_project_socket(project.id, await sync_to_async(create_token)(user))
    model_server.script(model.function_call("transfer_to_billing_agent", {}), model.text("Paid."))
    started = await _start(async_api, project, {"input": "Paid?"})
    await _finished(async_api, started["id"])
    seen = []
    while True:  # every frame is checked against the published event schema
        event = json.loads((await socket.receive_output(5))["text"])
        if event["type"].startswith("trial_"):
            assert event["trial_id"] == started["id"]
            seen.append(event)
            if event["type"] == "trial_finished":
                break
    await socket.disconnect()
    assert [e["status"] for e in seen if e["type"] == "trial_status"] == ["queued", "running"]
    spans = [(e["phase"], e["span"]["type"], e["span"]["name"]) for e in seen if "span" in e]
    assert [s for s in spans if s[1] in ("agent", "handoff")] == [
        ("start", "agent", "Triage Agent"),
        ("start", "handoff", "Triage Agent → ?"),  # where to is known at its end
        ("end", "handoff", "Triage Agent → Billing Agent"),
        ("end", "agent", "Triage Agent"),
        ("start", "agent", "Billing Agent"),
        ("end", "agent", "Billing Agent"),
    ]
    finished = seen[-1]
    assert (finished["status"], finished["final_output"]) == ("completed", "Paid.")
    assert finished["last_agent"] == "Billing Agent" and finished["usage"]["requests"] == 2


async def test_the_server_stopping_ends_its_trials_saying_so(
    user: User, async_api: TokenClient, model_server: ModelServer
) -> None:
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    model_server.script(model.hang())
    started = await _start(async_api, project, {"input": "Hello?"})
    try:
        assert await runs.end_trials(5) == 1
    finally:
        runs._Shutdown.started = False
    trial = await _finished(async_api, started["id"])
    assert (trial["status"], trial["error"]) == ("failed", runs.RESTARTED)


async def test_a_trial_whose_process_died_is_finished_when_read(
    user: User, async_api: TokenClient
) -> None:
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    trial = await Trial.objects.acreate(
        project=project, user=user, input="Hi", status="running", owner="gone:1:x",
        heartbeat_at=timezone.now() - runs.STALE_AFTER - timedelta(seconds=1),
    )  # fmt: skip
    body = (await async_api.get(f"/api/trials/{trial.id}")).json()
    assert (body["status"], body["error"]) == ("failed", runs.OWNER_DIED)
