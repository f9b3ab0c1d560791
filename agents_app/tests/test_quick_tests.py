"""Quick tests in the loop: a patch that breaks one goes back to the VibeCoder before
any Evaluator round; a patch that keeps them reaches the Evaluator with the table."""

from typing import Any

import pytest

from agents_app.tests.conftest import Vibe, change, patch_input, verdict
from projects.models import TestCase
from reviews.models import Diff
from tests.support.model_server import RecordedRequest, custom_tool_call, text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("bubblewrap")]

TEST_NAME = "Billing still reachable"
# Reads the file rather than importing it: no SDK start-up inside the 5 s quick limit.
BILLING_REACHABLE = (
    "source = open('workflow.py').read()\n"
    "assert 'handoffs=[support, billing]' in source, 'triage no longer hands off to billing'\n"
)
DROPS_BILLING = change("handoffs=[support, billing]", "handoffs=[support]")
RENAME = change(
    'instructions="Help with invoices."', 'instructions="Help with invoices and refunds."'
)
WAIT = 120.0


def evaluator_requests(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in requests if "You are the Evaluator" in r.instructions]


async def run(vibe: Vibe, prompt: str) -> dict[str, Any]:
    response = await vibe.send(prompt)
    assert response.status_code == 202, response.content
    return await vibe.until("run_finished", wait=WAIT)


async def add_test(vibe: Vibe, quick: bool = True) -> None:
    await TestCase.objects.acreate(
        project=vibe.project, name=TEST_NAME, test_code=BILLING_REACHABLE, quick_test=quick
    )


async def test_a_regression_goes_back_to_the_vibecoder_without_an_evaluator_round(
    vibe: Vibe, model_server
) -> None:
    await add_test(vibe)
    model_server.script(
        custom_tool_call("submit_patch", patch_input("Billing goes", DROPS_BILLING)),
        custom_tool_call("submit_patch", patch_input("Mention refunds", RENAME)),
        text(verdict(True, "Does what was asked.", "feat: refunds")),
    )

    finished = await run(vibe, "Billing should also handle refunds")

    assert finished["outcome"] == "diff"
    # The VibeCoder's second request carries the failing test: its name and output.
    feedback = model_server.requests[1].tool_outputs()[-1]
    assert feedback.startswith("The patch was not reviewed: it breaks a quick test")
    assert f"Quick test {TEST_NAME!r}: passed before, failed with your patch." in feedback
    assert "AssertionError: triage no longer hands off to billing" in feedback
    # One Evaluator call, for the second patch, in round 1: no round was spent.
    evaluations = evaluator_requests(model_server.requests)
    assert len(evaluations) == 1 and len(model_server.requests) == 3
    review = evaluations[0].input_text()
    assert "+billing = Agent(" in review and "Round 1 of 3." in review
    assert f"| {TEST_NAME} | passed | passed | unchanged-pass |" in review
    rounds = [
        e["iteration"]
        for e in vibe.events
        if e["type"] == "conversation_message" and e["agent"] == "evaluator"
    ]
    assert rounds == [1]
    # The tests were shown as they ran: each patch's, with its progress.
    shown = [
        (e["status"], e["done"], e["total"], e.get("outcome"))
        for e in vibe.events
        if e["type"] == "quick_test"
    ]
    assert shown == [
        ("queued", 0, 1, None),
        ("running", 0, 1, None),
        ("failed", 1, 1, "regressed"),
        ("queued", 0, 1, None),
        ("running", 0, 1, None),
        ("passed", 1, 1, "unchanged-pass"),
    ]
    assert {e["session_id"] for e in vibe.events if e["type"] == "quick_test"} == {vibe.session_id}
    # The diff keeps the quick results of the patch it holds.
    diff = await Diff.objects.aget(id=finished["diff_id"])
    assert diff.test_results is not None and diff.tests_run_at is not None
    assert [(r["name"], r["outcome"]) for r in diff.test_results] == [(TEST_NAME, "unchanged-pass")]
    assert diff.test_results[0]["base"]["status"] == "passed"


@pytest.mark.parametrize("off", ["setting", "not-quick"])
async def test_without_quick_tests_the_evaluator_reviews_as_before(
    vibe: Vibe, model_server, settings, off: str
) -> None:
    if off == "setting":
        settings.VIBECODE_RUN_QUICK_TESTS = False
    await add_test(vibe, quick=off != "not-quick")
    model_server.script(
        custom_tool_call("submit_patch", patch_input("Billing goes", DROPS_BILLING)),
        text(verdict(True, "Fine by me.", "feat: no billing")),
    )

    finished = await run(vibe, "Drop billing")

    assert finished["outcome"] == "diff"
    assert len(model_server.requests) == 2
    assert "quick_test" not in vibe.types()
    assert "Quick tests" not in model_server.requests[1].input_text()
    diff = await Diff.objects.aget(id=finished["diff_id"])
    assert diff.test_results is None


async def test_a_refusal_by_tests_is_a_stored_step_and_the_run_says_so(
    vibe: Vibe, model_server
) -> None:
    await add_test(vibe)
    model_server.script(
        custom_tool_call("submit_patch", patch_input("Billing goes", DROPS_BILLING)),
        text("I could not drop billing without breaking a test."),
    )

    finished = await run(vibe, "Drop billing")

    # Not "answered": the run's patch was refused by tests, and the run says which.
    assert finished["outcome"] == "refused_by_tests"
    assert finished["refusal"] == (
        "Refused before review: the patch breaks a quick test that passes on the current file: "
        f"“{TEST_NAME}”. The VibeCoder was sent the output."
    )
    # Live: the refusal came between the patch and the VibeCoder's reply.
    shown = [e for e in vibe.events if e["type"] == "conversation_message"]
    assert [(e["role"], e["agent"]) for e in shown] == [
        ("user", "user"),
        ("assistant", "vibecoder"),
        ("check", "system"),
        ("assistant", "vibecoder"),
    ]
    assert shown[2]["refusal"]["tests"][0]["name"] == TEST_NAME
    # Stored: a reload reads the same step, with the test, before and after, and output.
    messages = await vibe.messages()
    check = next(m for m in messages if m["role"] == "check")
    assert check["iteration"] == 1 and check["id"] == shown[2]["message_id"]
    assert check["refusal"]["reason"] == "tests"
    [broken] = check["refusal"]["tests"]
    assert (broken["name"], broken["base_status"], broken["status"]) == (
        TEST_NAME,
        "passed",
        "failed",
    )
    assert "AssertionError: triage no longer hands off to billing" in broken["output"]
    person = next(m for m in messages if m["role"] == "user")
    assert person["run_outcome"] == "refused_by_tests"
    assert await Diff.objects.acount() == 0
