"""Trial runs through the real SDK in a real sandbox, the model a local scripted server."""

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from projects.models import Project
from projects.sample_workflow import SAMPLE_CODE
from projects.services import create_project
from tests.support import model_server as model
from tests.support.fixtures import TokenClient
from tests.support.model_server import ModelServer
from trials import runs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("bubblewrap")]


async def _start(api: TokenClient, project: Project, body: dict[str, object]) -> dict[str, object]:
    response = await api.post(
        f"/api/projects/{project.id}/trials", body, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    started: dict[str, object] = response.json()
    return started


async def _finished(api: TokenClient, trial_id: object) -> dict[str, object]:
    task = runs.running_task(uuid.UUID(str(trial_id)))
    if task is not None:
        await asyncio.wait_for(asyncio.shield(task), 90)
    response = await api.get(f"/api/trials/{trial_id}")
    assert response.status_code == 200, response.content
    trial: dict[str, object] = response.json()
    return trial


async def test_a_handoff_is_traced_in_order(
    user: User, async_api: TokenClient, model_server: ModelServer
) -> None:
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
