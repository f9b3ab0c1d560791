"""The behaviour case API: cases kept per project, run on HEAD (a rubric judged), and a
diff's cases before and after, the base run once per (commit, case version)."""

import asyncio
import json
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from accounts.tokens import create_token
from cases import diff_cases, head_cases
from cases.models import BehaviourCase
from projects.sample_workflow import SAMPLE_CODE
from projects.services import create_project
from reviews.models import Diff
from tests.support import model_server as model
from tests.support.diffs import make_diff
from tests.support.fixtures import TokenClient
from tests.support.model_server import ModelServer
from trials.models import Trial

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("bubblewrap")]

BILLING = {"kind": "last_agent", "agent": "Billing Agent"}


async def _post(api: TokenClient, url: str, body: dict[str, Any]) -> Any:
    return await api.post(url, body, content_type="application/json")


def answers(request: model.RecordedRequest) -> model.Step:
    """Triage hands invoices to Billing when it can; Billing answers; the judge passes
    an answer that names the invoice."""
    if request.instructions.startswith("You judge"):
        passed = "INV-42" in request.input_text()
        return model.text(
            json.dumps({"passed": passed, "reason": "Names it." if passed else "No invoice named."})
        )
    if request.instructions.startswith("Decide whether"):
        names = [str(t.get("name")) for t in request.body.get("tools", [])]
        if "transfer_to_billing_agent" in names:
            return model.function_call("transfer_to_billing_agent", {})
        return model.text("Not my job.")
    if "patiently" in request.instructions:
        return model.text("Let us look at it together, patiently.")
    return model.text("Invoice INV-42 is paid.")


async def test_cases_are_kept_checked_and_versioned(
    user: User, other_user: User, async_api: TokenClient
) -> None:
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    url = f"/api/projects/{project.id}/cases"
    response = await _post(
        async_api, url, {"name": "Invoices", "input": "INV-42?", "expectations": [BILLING]}
    )
    assert response.status_code == 201, response.content
    case = response.json()
    assert (case["version"], case["in_loop"], case["latest_result"]) == (1, False, None)

    bad: list[tuple[dict[str, Any], str]] = [
        ({"name": "B", "input": " ", "rubric": "ok"}, "input"),
        ({"name": "B", "input": "x", "in_loop": "yes"}, "in_loop"),
        ({"name": 7, "input": "x"}, "name"),
        ({"name": "B", "input": "x", "expectations": [{"kind": {}}]}, "expectations"),
        ({"name": "B", "input": "x", "expectations": [{"kind": "vibes"}]}, "expectations"),
    ]
    response = await _post(async_api, url, {"name": "Invoices", "input": "x"})
    assert (
        response.status_code == 409 and "already has a behaviour case" in response.json()["detail"]
    )
    for body, field in bad:
        response = await _post(async_api, url, body)
        assert response.status_code == 400 and field in response.json(), response.content

    response = await async_api.patch(
        f"/api/cases/{case['id']}", {"in_loop": True}, content_type="application/json"
    )
    assert response.json()["version"] == 1  # what it runs did not change
    response = await async_api.patch(
        f"/api/cases/{case['id']}",
        {"rubric": "Names the invoice."},
        content_type="application/json",
    )
    assert response.json()["version"] == 2
    listed = (await async_api.get(url)).json()
    assert [c["name"] for c in listed["results"]] == ["Invoices"]

    other = TokenClient(await sync_to_async(create_token)(other_user))
    assert (await other.get(f"/api/cases/{case['id']}")).status_code == 404
    assert (await other.get(url)).status_code == 404
    assert (await other.post(f"/api/cases/{case['id']}/run")).status_code == 404
    assert (await other.delete(f"/api/cases/{case['id']}")).status_code == 404
    assert (await async_api.delete(f"/api/cases/{case['id']}")).status_code == 204


async def test_a_rubric_judged_pass_and_one_judged_fail(
    user: User, async_api: TokenClient, model_server: ModelServer
) -> None:
    model_server.route(answers)
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    url = f"/api/projects/{project.id}/cases"
    names_it = (await _post(async_api, url, {"name": "Names it", "input": "INV-42?",
                                              "rubric": "Names the invoice."})).json()  # fmt: skip
    technical = (await _post(async_api, url, {"name": "Technical", "input": "Help",
                                               "entry": "Technical Support Agent",
                                               "rubric": "Offers a fix."})).json()  # fmt: skip
    model_server.route(
        lambda r: answers(r) if not r.instructions.startswith("You solve") else model.text("Hm.")
    )
    for case in (names_it, technical):
        response = await async_api.post(f"/api/cases/{case['id']}/run")
        assert response.status_code == 202, response.content
        task = head_cases.running_task(uuid.UUID(case["id"]))
        await asyncio.wait_for(asyncio.shield(task), 90)  # type: ignore[arg-type]
    passed = (await async_api.get(f"/api/cases/{names_it['id']}")).json()["latest_result"]
    failed = (await async_api.get(f"/api/cases/{technical['id']}")).json()["latest_result"]
    assert (passed["status"], passed["judge_passed"], passed["judge_reason"]) == (
        "passed",
        True,
        "Names it.",
    )
    assert (failed["status"], failed["judge_passed"]) == ("failed", False)
    assert failed["checks"] == [
        {
            "kind": "rubric",
            "expected": "Offers a fix.",
            "passed": False,
            "detail": "No invoice named.",
        }
    ]
    assert passed["side"] == "head" and passed["commit"] == project.current_commit
    assert passed["cost_usd"] > 0  # the trial's model calls and the judge's
    judged = [r for r in model_server.requests if r.instructions.startswith("You judge")]
    assert len(judged) == 2 and "Names the invoice." in judged[0].input_text()


async def test_a_diffs_cases_before_and_after_the_base_run_once(
    user: User, async_api: TokenClient, model_server: ModelServer
) -> None:
    model_server.route(answers)
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    patched = SAMPLE_CODE.replace(
        "handoffs=[billing_agent, technical_agent]", "handoffs=[technical_agent]"
    )
    diff = await sync_to_async(make_diff)(project, patched)
    await BehaviourCase.objects.acreate(
        project=project, name="Invoices", input="INV-42 is wrong", expectations=[BILLING]
    )
    for _ in range(2):
        response = await async_api.post(f"/api/diffs/{diff.id}/cases/run")
        assert response.status_code == 202, response.content
        assert [c["name"] for c in response.json()["cases"]] == ["Invoices"]
        await asyncio.wait_for(asyncio.shield(diff_cases.running_task(diff.id)), 120)
    rows = (await async_api.get(f"/api/diffs/{diff.id}/cases")).json()
    assert len(rows) == 1
    row = rows[0]
    assert row["outcome"] == "regressed"
    assert (row["base"]["status"], row["patched"]["status"]) == ("passed", "failed")
    assert row["patched"]["final_output"] == "Not my job."
    assert row["patched"]["checks"][0]["detail"] == "ended with 'Triage Agent'"
    sides = [t.side async for t in Trial.objects.filter(origin="case").order_by("created_at")]
    assert sides == ["base", "patched", "patched"]  # the base once for (commit, version)
    stored = await Diff.objects.aget(id=diff.id)
    assert [r["outcome"] for r in stored.behaviour_results or []] == ["regressed"]
    # A trial of a case is not among the person's trials, but can be listed.
    listed = (await async_api.get(f"/api/projects/{project.id}/trials")).json()["results"]
    assert listed == []
    cases_runs = (await async_api.get(f"/api/projects/{project.id}/trials?origin=case")).json()
    assert len(cases_runs["results"]) == 3
    response = await async_api.post(f"/api/diffs/{uuid.uuid4()}/cases/run")
    assert response.status_code == 404


async def test_a_case_made_from_a_trial(
    user: User, async_api: TokenClient, model_server: ModelServer
) -> None:
    model_server.route(answers)
    project = await sync_to_async(create_project)(user, "Triage", SAMPLE_CODE)
    trial = await Trial.objects.acreate(
        project=project, user=user, input="INV-42?", status="completed", entry="Triage Agent",
        final_output="Invoice INV-42 is paid.", last_agent="Billing Agent",
    )  # fmt: skip
    response = await _post(
        async_api,
        f"/api/projects/{project.id}/cases",
        {"from_trial": str(trial.id), "name": "From a trial", "in_loop": True},
    )
    assert response.status_code == 201, response.content
    case = response.json()
    assert (case["input"], case["entry"], case["in_loop"]) == ("INV-42?", "Triage Agent", True)
    assert case["expectations"] == [
        {"kind": "last_agent", "agent": "Billing Agent"},
        {"kind": "output_contains", "text": "Invoice INV-42 is paid."},
    ]
    response = await _post(
        async_api,
        f"/api/projects/{project.id}/cases",
        {"from_trial": str(uuid.uuid4()), "name": "Nothing"},
    )
    assert response.status_code == 404 and "from_trial" in response.json()["detail"]
