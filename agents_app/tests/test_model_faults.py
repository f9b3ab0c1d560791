"""Faults in what the model sends or how its server answers, through the HTTP API.

Each ends either in a fixable tool error the model reads, or in a run error that
says truthfully what happened and what to do.
"""

import json

import pytest

from agents_app.model_guard import scrub_in_place
from agents_app.patch_step import applied_notes
from agents_app.patching import PatchResult
from agents_app.tests.conftest import WORKFLOW, Vibe, change, patch_input, verdict
from reviews.models import Diff
from sessions_app.models import ConversationMessage, VibecodeSession
from tests.support.model_server import custom_tool_call, cut, error, function_call, text, together

pytestmark = pytest.mark.django_db(transaction=True)

RENAME = change(
    'instructions="Help with invoices."', 'instructions="Help with invoices and refunds."'
)
RENAMED = WORKFLOW.replace("invoices.", "invoices and refunds.")
OTHER = change('instructions="Help with orders."', 'instructions="Help with orders fast."')
# What a model sends when it emits half of a UTF-16 pair: JSON allows "\ud800".
WITH_LONE_SURROGATE = RENAME.replace("invoices and refunds", "invoices \ud800 refunds")


def assert_no_double_period(message: str) -> None:
    assert ".." not in message.replace("...", ""), message


# --- One patch per response ----------------------------------------------------------


@pytest.mark.parametrize("server", ["model_server", "chat_model_server"])
async def test_vibecoder_asks_for_one_tool_call_at_a_time(vibe: Vibe, request, server: str) -> None:
    model = request.getfixturevalue(server)
    model.script(text("Nothing to change."))

    await vibe.run("What does triage do?")

    body = model.requests[0].body
    assert body["parallel_tool_calls"] is False
    assert [t.get("name") or t["function"]["name"] for t in body["tools"]] == ["submit_patch"]


async def test_two_patches_in_one_response_get_one_review_and_one_diff(
    vibe: Vibe, model_server
) -> None:
    model_server.script(
        together(
            custom_tool_call("submit_patch", patch_input("Mention refunds", RENAME)),
            custom_tool_call("submit_patch", patch_input("Speed up support", OTHER)),
        ),
        text(verdict(True, "Does what was asked.", "feat: refunds")),
        # Never reached: a second review, then the VibeCoder's next turn.
        text(verdict(True, "Second.", "feat: second")),
        text("done"),
    )

    finished = await vibe.run("Billing should also handle refunds")

    assert finished["outcome"] == "diff"
    evaluator_requests = [r for r in model_server.requests if "Patch description" in r.input_text()]
    assert len(evaluator_requests) == 1
    assert "Mention refunds" in evaluator_requests[0].input_text()
    assert len(model_server.requests) == 2
    # The live client saw one diff; a reload sees the same one.
    created = [e for e in vibe.events if e["type"] == "diff_created"]
    assert [e["diff_id"] for e in created] == [finished["diff_id"]]
    response = await vibe.client.get(f"/api/sessions/{vibe.session_id}/diffs")
    assert [d["id"] for d in response.json()["results"]] == [finished["diff_id"]]
    diff = await Diff.objects.aget()
    assert diff.patched_code == RENAMED
    assert diff.commit_message == "feat: refunds"
    # The VibeCoder's message previews the reviewed patch and names the other.
    answer = next(m for m in await vibe.messages() if m["agent"] == "vibecoder")
    assert answer["content"] == "Mention refunds\nAlso submitted, not reviewed: Speed up support"
    assert "invoices and refunds" in answer["patch_preview"]
    assert "orders fast" not in answer["patch_preview"]


async def test_second_patch_of_a_response_is_told_it_was_not_reviewed(
    vibe: Vibe, chat_model_server
) -> None:
    chat_model_server.script(
        together(
            function_call("submit_patch", {"patch": OTHER, "description": "Speed up support"}),
            function_call("submit_patch", {"patch": RENAME, "description": "Mention refunds"}),
        ),
        text(verdict(False, "Not what was asked: refunds go to billing.")),
        function_call("submit_patch", {"patch": RENAME, "description": "Mention refunds"}),
        text(verdict(True, "Good.", "feat: refunds")),
    )

    finished = await vibe.run("Billing should also handle refunds")

    assert finished["outcome"] == "diff"
    outputs = chat_model_server.requests[2].tool_outputs()
    assert outputs[0].startswith("Rejected by the Evaluator: Not what was asked")
    assert outputs[1].startswith("Not reviewed: only one patch per response is reviewed")
    assert await Diff.objects.acount() == 1
    assert (await Diff.objects.aget()).patched_code == RENAMED


# --- Lone surrogates -------------------------------------------------------------------


@pytest.mark.parametrize("server", ["model_server", "chat_model_server"])
async def test_lone_surrogate_goes_back_to_the_model_which_fixes_it(
    vibe: Vibe, request, server: str
) -> None:
    model = request.getfixturevalue(server)
    if server == "model_server":
        bad = custom_tool_call("submit_patch", patch_input("Mention refunds", WITH_LONE_SURROGATE))
        fixed = custom_tool_call("submit_patch", patch_input("Mention refunds", RENAME))
    else:
        bad = function_call(
            "submit_patch", {"patch": WITH_LONE_SURROGATE, "description": "Mention refunds"}
        )
        fixed = function_call("submit_patch", {"patch": RENAME, "description": "Mention refunds"})
    model.script(bad, fixed, text(verdict(True, "Good.", "feat: refunds")))

    finished = await vibe.run("Billing should also handle refunds")

    assert finished["outcome"] == "diff", finished
    feedback = model.requests[1].tool_outputs()[-1]
    assert feedback.startswith("The patch was not applied: its text has a lone surrogate at line")
    assert "U+D800" in feedback
    diff = await Diff.objects.aget(id=finished["diff_id"])
    assert diff.patched_code == RENAMED
    # What was stored and sent live encodes as UTF-8, with the bad character marked.
    stored = [m async for m in ConversationMessage.objects.order_by("created_at")]
    first_patch = stored[1]
    assert "\ufffd refunds" in first_patch.patch_preview
    for message in stored:
        message.content.encode()
        message.patch_preview.encode()
        json.dumps(message.openai_response, ensure_ascii=False).encode()
    for event in vibe.events:
        json.dumps(event, ensure_ascii=False).encode()
    session = await VibecodeSession.objects.aget(id=vibe.session_id)
    assert session.run_state == "idle"


# --- Model server errors ---------------------------------------------------------------


async def test_context_length_400_is_reported_as_sent_once_with_what_to_do(
    vibe: Vibe, model_server
) -> None:
    said = "This model's maximum context length is 128000 tokens. Please reduce the length."
    model_server.script(error(400, said, error_code="context_length_exceeded"))

    finished = await vibe.run("hi")

    assert finished["outcome"] == "error"
    message = finished["error"]
    assert len(model_server.requests) == 1
    assert "(400)" in message
    assert "maximum context length is 128000 tokens. Please reduce the length" in message
    assert "Error code:" not in message
    assert "sent once and not retried" in message
    assert "shorter" in message and "THINKING_MODEL" in message
    assert "retries" not in message and "Try again later" not in message
    assert_no_double_period(message)
    session = await VibecodeSession.objects.aget(id=vibe.session_id)
    assert (session.run_state, session.last_error) == ("failed", message)


async def test_evaluator_400_names_the_evaluator_and_its_model_setting(
    vibe: Vibe, model_server
) -> None:
    model_server.script(
        custom_tool_call("submit_patch", patch_input("Mention refunds", RENAME)),
        error(400, "Unsupported parameter: 'reasoning'."),
    )

    finished = await vibe.run("Billing should also handle refunds")

    assert finished["outcome"] == "error"
    assert finished["error"].startswith("The model server refused the Evaluator's request (400)")
    assert "SMALL_MODEL" in finished["error"]
    assert_no_double_period(finished["error"])
    assert len(model_server.requests) == 2
    assert await Diff.objects.acount() == 0


async def test_server_errors_say_how_many_retries_there_were(
    vibe: Vibe, model_server, settings
) -> None:
    settings.VIBECODE_MODEL_RETRIES = 2
    model_server.script(*[error(500, "The server had an error.") for _ in range(3)])

    finished = await vibe.run("hi")

    assert len(model_server.requests) == 3
    assert finished["error"] == (
        "The model server answered 500 to the VibeCoder after 2 retries: "
        "The server had an error. Try again later."
    )


async def test_retries_of_an_earlier_request_are_not_counted_for_a_later_one(
    vibe: Vibe, model_server
) -> None:
    model_server.script(
        error(429, "slow down", headers={"retry-after-ms": "10"}),
        custom_tool_call("submit_patch", patch_input("bad", "not a diff at all")),
        error(400, "Request too large."),
    )

    finished = await vibe.run("hi")

    assert len(model_server.requests) == 3
    assert "sent once and not retried" in finished["error"]
    assert "retries" not in finished["error"]


async def test_a_400_after_a_retried_500_says_both(vibe: Vibe, model_server) -> None:
    model_server.script(error(500, "boom"), error(400, "Invalid 'input': too many items."))

    finished = await vibe.run("hi")

    assert len(model_server.requests) == 2
    assert finished["error"].startswith(
        "The model server refused the VibeCoder's request (400): Invalid 'input': too many "
        "items. After 1 retry of earlier failures, this answer was not retried, since the "
        "same request would be refused again."
    )


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        ([error(400, "Unknown model 'gpt-9-mini'.")], "sent once and not retried"),
        (
            [error(503, "overloaded")] * 3,
            "answered 503 to the Commit message refiner after 2 retries",
        ),
    ],
    ids=["400", "503"],
)
async def test_refining_a_commit_message_reports_the_same_truths(
    vibe: Vibe, model_server, settings, failures: list, expected: str
) -> None:
    settings.VIBECODE_MODEL_RETRIES = 2
    model_server.script(
        custom_tool_call("submit_patch", patch_input("Mention refunds", RENAME)),
        text(verdict(True, "Good.", "feat: refunds")),
        *failures,
    )
    finished = await vibe.run("Billing should also handle refunds")

    response = await vibe.client.post(
        f"/api/diffs/{finished['diff_id']}/refine-message", {}, content_type="application/json"
    )

    assert response.status_code == 502
    assert expected in response.json()["detail"]
    assert_no_double_period(response.json()["detail"])
    assert len(model_server.requests) == 2 + len(failures)


# --- Streams cut mid-answer ------------------------------------------------------------


@pytest.mark.parametrize("server", ["model_server", "chat_model_server"])
async def test_a_stream_cut_once_is_asked_again(vibe: Vibe, request, server: str) -> None:
    model = request.getfixturevalue(server)
    model.script(cut(text("The first answer, which never ends " * 5), 6), text("Whole answer."))

    finished = await vibe.run("What does triage do?")

    assert finished["outcome"] == "text"
    assert len(model.requests) == 2
    assert model.requests[1].body == model.requests[0].body
    contents = [m["content"] for m in await vibe.messages()]
    assert contents == ["What does triage do?", "Whole answer."]


async def test_a_patch_cut_mid_stream_is_asked_again_and_reviewed_once(
    vibe: Vibe, model_server
) -> None:
    model_server.script(
        cut(custom_tool_call("submit_patch", patch_input("Mention refunds", RENAME)), 8),
        custom_tool_call("submit_patch", patch_input("Mention refunds", RENAME)),
        text(verdict(True, "Good.", "feat: refunds")),
    )

    finished = await vibe.run("Billing should also handle refunds")

    assert finished["outcome"] == "diff"
    assert len(model_server.requests) == 3
    assert (await Diff.objects.aget()).patched_code == RENAMED


@pytest.mark.parametrize(
    ("after_events", "expected"),
    [
        (5, "was reached, but its answer to the VibeCoder was cut off before its end"),
        (0, "broke before it answered the VibeCoder"),
    ],
    ids=["mid-answer", "before-the-first-event"],
)
async def test_a_stream_cut_every_time_ends_with_a_truthful_error(
    vibe: Vibe, model_server, settings, after_events: int, expected: str
) -> None:
    settings.VIBECODE_MODEL_RETRIES = 2
    model_server.script(*[cut(text("Cut " * 50), after_events) for _ in range(3)])

    finished = await vibe.run("hi")

    assert finished["outcome"] == "error"
    message = finished["error"]
    assert len(model_server.requests) == 3
    assert message.startswith(f"The model server at {model_server.base_url}") or message.startswith(
        f"The connection to the model server at {model_server.base_url}"
    )
    assert expected in message
    assert "(tried 3 times: 2 retries)" in message
    assert "Could not reach" not in message and "check OPENAI_BASE_URL" not in message
    assert_no_double_period(message)
    assert [m["content"] for m in await vibe.messages()] == ["hi"]


async def test_an_unreachable_server_is_still_reported_as_unreachable(
    vibe: Vibe, model_server, settings
) -> None:
    settings.VIBECODE_MODEL_RETRIES = 0
    model_server.stop()

    finished = await vibe.run("hi")

    assert finished["outcome"] == "error"
    assert finished["error"].startswith(
        f"Could not reach the model server at {model_server.base_url}"
    )


# --- Commit messages, size limit, applier notes ---------------------------------------


@pytest.mark.parametrize(
    ("description", "expected"),
    [("Mention refunds", "Mention refunds"), ("", "Billing should also handle refunds")],
    ids=["from-description", "from-request"],
)
async def test_approval_without_a_commit_message_never_stores_an_empty_one(
    vibe: Vibe, model_server, description: str, expected: str
) -> None:
    model_server.script(
        custom_tool_call("submit_patch", patch_input(description, RENAME)),
        text(verdict(True, "Good.", "  \n ")),
    )

    finished = await vibe.run("Billing should also handle refunds\nand say so.")

    assert finished["outcome"] == "diff"
    diff = await Diff.objects.aget(id=finished["diff_id"])
    assert diff.commit_message == expected
    created = next(e for e in vibe.events if e["type"] == "diff_created")
    assert created["commit_message"] == expected
    # No second review was asked for.
    assert len(model_server.requests) == 2


async def test_after_a_rejection_the_fallback_message_is_the_persons_feedback(
    vibe: Vibe, model_server
) -> None:
    model_server.script(
        custom_tool_call("submit_patch", patch_input("Mention refunds", OTHER)),
        text(verdict(True, "Good.", "feat: faster support")),
        custom_tool_call("submit_patch", RENAME),  # no description line
        text(verdict(True, "Good.", "")),
    )
    first = await vibe.run("Billing should also handle refunds")
    response = await vibe.client.post(
        f"/api/diffs/{first['diff_id']}/review",
        {"approved": False, "feedback": "Wrong agent: change billing.\nKeep support."},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content

    second = await vibe.until("run_finished")

    assert second["outcome"] == "diff"
    diff = await Diff.objects.aget(id=second["diff_id"])
    assert diff.commit_message == "Wrong agent: change billing."


async def test_a_patch_growing_the_file_over_the_size_limit_is_refused(
    vibe: Vibe, model_server, settings
) -> None:
    settings.MAX_CODE_BYTES = len(WORKFLOW.encode()) + 100
    padding = "# " + "x" * 200
    too_big = change('billing = Agent(name="Billing"', f'{padding}\nbilling = Agent(name="Billing"')
    model_server.script(
        custom_tool_call("submit_patch", patch_input("Document billing", too_big)),
        custom_tool_call("submit_patch", patch_input("Mention refunds", RENAME)),
        text(verdict(True, "Good.", "feat: refunds")),
    )

    finished = await vibe.run("Billing should also handle refunds")

    assert finished["outcome"] == "diff"
    feedback = model_server.requests[1].tool_outputs()[-1]
    size = len(WORKFLOW.encode()) + len(padding) + 1
    assert feedback.startswith(
        f"The patch was not applied: The patched workflow.py is {size} bytes; the limit is "
        f"{settings.MAX_CODE_BYTES} bytes (MAX_CODE_BYTES)."
    )
    # The Evaluator saw only the second patch; nothing over the limit was stored.
    assert len(model_server.requests) == 3
    assert [d.patched_code async for d in Diff.objects.all()] == [RENAMED]


async def test_a_patch_nesting_the_file_too_deeply_is_refused(vibe: Vibe, model_server) -> None:
    # It parses, but nothing that reads it (graph, pages, sandbox) should have to.
    lambdas = "lambda: " * 950
    deep = change(
        'billing = Agent(name="Billing"', f'x = {lambdas}1\nbilling = Agent(name="Billing"'
    )
    model_server.script(
        custom_tool_call("submit_patch", patch_input("Add a helper", deep)),
        custom_tool_call("submit_patch", patch_input("Mention refunds", RENAME)),
        text(verdict(True, "Good.", "feat: refunds")),
    )

    finished = await vibe.run("Billing should also handle refunds")

    assert finished["outcome"] == "diff"
    feedback = model_server.requests[1].tool_outputs()[-1]
    assert feedback.startswith("The patch was not applied: The patched workflow.py nests more ")
    assert "the limit is 200 (MAX_CODE_NESTING)" in feedback
    assert [d.patched_code async for d in Diff.objects.all()] == [RENAMED]


async def test_what_the_applier_assumed_reaches_the_model(vibe: Vibe, model_server) -> None:
    # The hunk leaves out `name="Triage",` between two of its context lines.
    left_out = (
        "--- a/workflow.py\n+++ b/workflow.py\n@@ -11,6 +11,6 @@\n"
        ' billing = Agent(name="Billing", instructions="Help with invoices.")\n'
        " triage = Agent(\n"
        '     instructions="Send the customer to the right agent.",\n'
        "-    handoffs=[support, billing],\n"
        "+    handoffs=[billing, support],\n"
        " )\n"
    )
    model_server.script(
        custom_tool_call("submit_patch", patch_input("Billing first", left_out)),
        text(verdict(False, "Keep the order.")),
        text("Understood, I will leave it."),
    )

    finished = await vibe.run("Put billing first in the handoffs")

    assert finished["outcome"] == "text"
    feedback = model_server.requests[2].tool_outputs()[-1]
    assert feedback.startswith("Applied, assuming: Hunk 1 of 1 left out line 13 of workflow.py")
    assert 'name="Triage",' in feedback
    assert "Rejected by the Evaluator: Keep the order." in feedback


def test_a_clean_application_adds_no_assumptions() -> None:
    assert applied_notes(PatchResult(ok=True, code="x = 1\n", error=None, method="exact")) == ""


def test_surrogate_pairs_are_joined_and_only_lone_halves_are_reported() -> None:
    found: dict[str, str] = {}
    item = {"call_id": "call_1", "input": "ok \ud83d\ude00\nbad \udc00 end"}

    scrub_in_place(item, found)

    assert item["input"] == "ok \U0001f600\nbad \ufffd end"
    assert found == {"call_1": "line 2, column 5 (U+DC00)"}
    arguments = json.dumps({"patch": "a\ud800b"})  # escaped, as a function call sends it
    found.clear()
    call = {"call_id": "call_2", "arguments": arguments}
    scrub_in_place(call, found)
    assert json.loads(call["arguments"]) == {"patch": "a\ufffdb"}
    assert found == {"call_2": "line 1, column 2 (U+D800)"}
