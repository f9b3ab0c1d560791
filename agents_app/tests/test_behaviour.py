"""Behaviour cases in the loop: a patch that breaks one goes back to the VibeCoder with
what the patched workflow answered, before any Evaluator round; one that keeps them
reaches the Evaluator with the table; the run's behaviour budget bounds the step.

The workflow's own agents run in real sandboxes through the real SDK: their model
requests reach the same local model server as the VibeCoder's, told apart by their
instructions."""

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents_app.tests.conftest import Vibe, change, patch_input, verdict
from cases.models import BehaviourCase
from reviews.models import Diff
from reviews.provenance import commit_trailers
from tests.support.model_server import (
    RecordedRequest,
    Step,
    custom_tool_call,
    function_call,
    text,
)
from trials.models import Trial

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("bubblewrap")]

CASE = "Invoices go to Billing"
DROPS_BILLING = change("handoffs=[support, billing]", "handoffs=[support]")
RENAME = change(
    'instructions="Help with invoices."', 'instructions="Help with invoices and refunds."'
)
WAIT = 180.0


def tools_of(request: RecordedRequest) -> list[str]:
    return [str(tool.get("name")) for tool in request.body.get("tools", [])]


def responder(vibecoder: list[Step]) -> Callable[[RecordedRequest], Step]:
    """The VibeCoder's scripted answers in turn; the Evaluator approves; the workflow's
    triage hands invoices to Billing when it can, Billing answers."""

    def answer(request: RecordedRequest) -> Step:
        instructions = request.instructions
        if "You are the VibeCoder" in instructions:
            return vibecoder.pop(0)
        if "You are the Evaluator" in instructions:
            return text(verdict(True, "Keeps billing reachable.", "feat: refunds"))
        if instructions.startswith("Send the customer"):
            if "transfer_to_billing" in tools_of(request):
                return function_call("transfer_to_billing", {})
            return text("I cannot help with invoices.")
        if instructions.startswith("Help with invoices"):
            return text("Billing here: your invoice is being checked.")
        return text("?")

    return answer


def evaluator_requests(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in requests if "You are the Evaluator" in r.instructions]


async def add_case(vibe: Vibe) -> BehaviourCase:
    return await BehaviourCase.objects.acreate(
        project=vibe.project,
        name=CASE,
        input="My invoice INV-7 is wrong.",
        expectations=[{"kind": "last_agent", "agent": "Billing"}],
        in_loop=True,
    )


async def run(vibe: Vibe, prompt: str) -> dict[str, Any]:
    response = await vibe.send(prompt)
    assert response.status_code == 202, response.content
    return await vibe.until("run_finished", wait=WAIT)


async def test_a_regressed_case_goes_back_to_the_vibecoder_without_an_evaluator_round(
    vibe: Vibe, model_server
) -> None:
    await add_case(vibe)
    model_server.route(
        responder(
            [
                custom_tool_call("submit_patch", patch_input("Billing goes", DROPS_BILLING)),
                custom_tool_call("submit_patch", patch_input("Mention refunds", RENAME)),
            ]
        )
    )

    finished = await run(vibe, "Billing should also handle refunds")

    assert finished["outcome"] == "diff", finished
    vibecoder = [r for r in model_server.requests if "You are the VibeCoder" in r.instructions]
    feedback = vibecoder[1].tool_outputs()[-1]
    assert feedback.startswith("The patch was not reviewed: it breaks a behaviour case")
    assert f"Case {CASE!r}, input: 'My invoice INV-7 is wrong.'" in feedback
    assert "The patched workflow answered: I cannot help with invoices." in feedback
    assert "expected: ends with 'Billing' (ended with 'Triage')" in feedback
    # One Evaluator call, for the second patch, reading the behaviour table.
    evaluations = evaluator_requests(model_server.requests)
    assert len(evaluations) == 1
    review = evaluations[0].input_text()
    assert f"| {CASE} | passed | passed | unchanged-pass |" in review
    assert "Round 1 of 3." in review
    # The base ran once for both patches: kept per (base commit, case version).
    sides = [t.side async for t in Trial.objects.filter(origin="case").order_by("created_at")]
    assert sides == ["base", "patched", "patched"]
    # Each case run was shown as it ended, tied to the run.
    shown = [(e["side"], e["status"]) for e in vibe.events if e["type"] == "case_result"]
    assert shown == [("base", "passed"), ("patched", "failed"), ("patched", "passed")]
    assert {e["session_id"] for e in vibe.events if e["type"] == "case_result"} == {vibe.session_id}
    # The refusal is a step of the conversation, as a quick test's is.
    checks = [
        e for e in vibe.events if e["type"] == "conversation_message" and e["role"] == "check"
    ]
    assert checks[0]["refusal"]["reason"] == "behaviour"
    # The diff keeps the pair, and its commit says so and counts the cost.
    diff = await Diff.objects.aget(id=finished["diff_id"])
    assert diff.behaviour_results is not None
    assert [(r["name"], r["outcome"]) for r in diff.behaviour_results] == [(CASE, "unchanged-pass")]
    assert diff.behaviour_cost_usd > 0
    trailers = dict(await sync_to_async(commit_trailers)(diff))
    assert trailers["Behaviour"] == "1 passed, 0 regressed"
    assert "(behaviour cases " in trailers["Cost"]


async def test_the_budget_stops_the_behaviour_step_and_the_run_goes_on(
    vibe: Vibe, model_server, settings
) -> None:
    # The base side's trial takes two requests (triage, billing): nothing is left.
    settings.BEHAVIOUR_MAX_REQUESTS = 2
    await add_case(vibe)
    model_server.route(
        responder([custom_tool_call("submit_patch", patch_input("Billing goes", DROPS_BILLING))])
    )

    finished = await run(vibe, "Drop billing")

    assert finished["outcome"] == "diff", finished
    review = evaluator_requests(model_server.requests)[0].input_text()
    assert "Some did not run: the behaviour budget of 2 model requests is spent" in review
    assert "BEHAVIOUR_MAX_REQUESTS" in review
    assert f"| {CASE} | passed | error | error |" in review
    said = [e for e in vibe.events if e["type"] == "case_result" and e["side"] == "patched"]
    assert said[0]["status"] == "error" and "BEHAVIOUR_MAX_REQUESTS" in said[0]["error"]


async def test_without_in_loop_cases_the_loop_is_as_before(vibe: Vibe, model_server) -> None:
    case = await add_case(vibe)
    case.in_loop = False
    await case.asave()
    model_server.route(
        responder([custom_tool_call("submit_patch", patch_input("Billing goes", DROPS_BILLING))])
    )

    finished = await run(vibe, "Drop billing")

    assert finished["outcome"] == "diff"
    assert not await Trial.objects.filter(origin="case").aexists()
    assert "Behaviour cases" not in evaluator_requests(model_server.requests)[0].input_text()
    assert (await Diff.objects.aget(id=finished["diff_id"])).behaviour_results is None
