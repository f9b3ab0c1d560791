"""The vibecode run end to end: HTTP API in, WebSocket events out, real SDK, local model."""

from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async

from agents_app.memory import dispose_engines
from agents_app.models import AgentMemoryMessage, AgentMemorySession
from agents_app.tests.conftest import WORKFLOW, Vibe, change, patch_input, verdict
from projects import git
from projects.services import create_project
from reviews.models import Diff
from sessions_app.models import ConversationMessage, VibecodeSession
from tests.support.model_server import custom_tool_call, error, function_call, hang, text

pytestmark = pytest.mark.django_db(transaction=True)

RENAME = change(
    'instructions="Help with invoices."', 'instructions="Help with invoices and refunds."'
)
NOT_APPLYING = (
    "--- a/workflow.py\n+++ b/workflow.py\n@@ -1,1 +1,1 @@\n-import nothing_like_this\n+import os\n"
)


async def test_text_answer_is_streamed_then_stored(vibe: Vibe, model_server) -> None:
    model_server.script(text("Triage hands off to Support and Billing."))

    finished = await vibe.run("What does triage do?")

    assert finished["outcome"] == "text"
    assert vibe.types() == [
        "conversation_message",
        "conversation_message",
        "token_usage",
        "run_finished",
    ]
    user_event, answer_event, usage_event = vibe.events[:3]
    assert (user_event["agent"], user_event["content"]) == ("user", "What does triage do?")
    assert answer_event["agent"] == "vibecoder"
    assert answer_event["content"] == "Triage hands off to Support and Billing."
    assert usage_event["usage"]["prompt_tokens"] == 11
    assert usage_event["usage"]["completion_tokens"] == 7
    assert usage_event["message_id"] == answer_event["message_id"]

    stored = await ConversationMessage.objects.aget(id=answer_event["message_id"])
    assert stored.token_usage["total_tokens"] == 18
    assert stored.last_response_id.startswith("resp_")
    assert stored.openai_response["id"] == stored.last_response_id
    assert stored.openai_response["output"][0]["type"] == "message"
    assert stored.trace_id.startswith("trace_")
    # The VibeCoder saw the file with line numbers and the request.
    first_input = model_server.requests[0].input_text()
    assert "What does triage do?" in first_input
    assert "   1 | from agents import Agent, Runner, function_tool" in first_input
    session = await VibecodeSession.objects.aget(id=vibe.session_id)
    assert session.run_state == "idle"


async def test_patch_approved_first_time_creates_a_diff(vibe: Vibe, model_server) -> None:
    model_server.script(
        custom_tool_call("submit_patch", patch_input("Mention refunds", RENAME)),
        text(verdict(True, "Does what was asked.", "feat: let billing handle refunds")),
    )

    finished = await vibe.run("Billing should also handle refunds")

    assert finished["outcome"] == "diff"
    assert vibe.types() == [
        "conversation_message",
        "conversation_message",
        "token_usage",
        "conversation_message",
        "token_usage",
        "diff_created",
        "run_finished",
    ]
    vibecoder_event, evaluator_event = vibe.events[1], vibe.events[3]
    assert vibecoder_event["content"] == "Mention refunds"
    assert "+billing = Agent(" in vibecoder_event["patch_preview"]
    assert evaluator_event["agent"] == "evaluator"
    assert evaluator_event["content"].startswith("Approved: Does what was asked.")

    diff = await Diff.objects.aget(id=finished["diff_id"])
    assert vibe.events[5]["diff_id"] == str(diff.id)
    assert diff.status == "evaluator_approved"
    assert diff.base_commit == vibe.project.current_commit
    assert diff.target_branch == "main"
    assert diff.commit_message == "feat: let billing handle refunds"
    assert diff.evaluator_reasoning == "Does what was asked."
    assert diff.vibecoder_prompt == "Billing should also handle refunds"
    assert diff.patched_code == WORKFLOW.replace("invoices.", "invoices and refunds.")
    assert diff.diff_content.startswith("diff --git a/workflow.py b/workflow.py\n")
    linked = await sync_to_async(lambda: list(diff.messages.values_list("agent", flat=True)))()
    assert sorted(linked) == ["evaluator", "vibecoder"]
    # The Evaluator saw the request and the diff; nothing more was asked of the model.
    assert len(model_server.requests) == 2
    assert "Billing should also handle refunds" in model_server.requests[1].input_text()
    assert "+billing = Agent(" in model_server.requests[1].input_text()


async def test_two_rejections_then_approval(vibe: Vibe, model_server) -> None:
    model_server.script(
        custom_tool_call("submit_patch", patch_input("try 1", RENAME)),
        text(verdict(False, "Say 'refund requests' instead.")),
        custom_tool_call("submit_patch", patch_input("try 2", RENAME)),
        text(verdict(False, "Also keep the period.")),
        custom_tool_call("submit_patch", patch_input("try 3", RENAME)),
        text(verdict(True, "Good now.", "feat: refunds")),
    )

    finished = await vibe.run("Handle refunds")

    assert finished["outcome"] == "diff"
    evaluator_rounds = [
        e["iteration"]
        for e in vibe.events
        if e["type"] == "conversation_message" and e["agent"] == "evaluator"
    ]
    assert evaluator_rounds == [1, 2, 3]
    # A rejection reads as one, without the commit message of a patch not committed.
    evaluator_texts = [
        e["content"]
        for e in vibe.events
        if e["type"] == "conversation_message" and e["agent"] == "evaluator"
    ]
    assert evaluator_texts == [
        "Rejected: Say 'refund requests' instead.",
        "Rejected: Also keep the period.",
        "Approved: Good now.\nCommit message: feat: refunds",
    ]
    # Each rejection's reasoning reached the VibeCoder in its next request.
    assert "Say 'refund requests' instead." in model_server.requests[2].tool_outputs()[-1]
    assert "Also keep the period." in model_server.requests[4].tool_outputs()[-1]
    assert await Diff.objects.acount() == 1


async def test_three_rejections_end_with_max_iterations(vibe: Vibe, model_server) -> None:
    steps = []
    for n in range(3):
        steps += [
            custom_tool_call("submit_patch", patch_input(f"try {n}", RENAME)),
            text(verdict(False, f"Not yet ({n}).")),
        ]
    model_server.script(*steps)

    finished = await vibe.run("Handle refunds")

    assert finished["outcome"] == "max_iterations"
    assert finished["error"] == "Max iterations reached"
    assert finished["final_feedback"] == "Not yet (2)."
    assert await Diff.objects.acount() == 0
    assert len(model_server.requests) == 6
    session = await VibecodeSession.objects.aget(id=vibe.session_id)
    assert session.run_state == "idle"


@pytest.mark.parametrize(
    ("bad_patch", "expected_in_error", "reason"),
    [
        pytest.param(
            NOT_APPLYING,
            "import nothing_like_this",
            "apply",
            id="does-not-apply",
        ),
        pytest.param(
            change('billing = Agent(name="Billing"', 'billing = Agent(name="Billing",,'),
            "line 11",
            "apply",
            id="does-not-parse",
        ),
    ],
)
async def test_broken_patch_error_reaches_the_model_which_fixes_it(
    vibe: Vibe, model_server, bad_patch: str, expected_in_error: str, reason: str
) -> None:
    model_server.script(
        custom_tool_call("submit_patch", patch_input("first try", bad_patch)),
        custom_tool_call("submit_patch", patch_input("fixed", RENAME)),
        text(verdict(True)),
    )

    finished = await vibe.run("Handle refunds")

    assert finished["outcome"] == "diff"
    feedback = model_server.requests[1].tool_outputs()[-1]
    assert feedback.startswith("The patch was not applied:")
    assert expected_in_error in feedback
    # The person sees the refusal as a step of the round, between the two patches.
    shown = [(e["role"], e["agent"]) for e in vibe.events if e["type"] == "conversation_message"]
    assert shown == [
        ("user", "user"),
        ("assistant", "vibecoder"),
        ("check", "system"),
        ("assistant", "vibecoder"),
        ("assistant", "evaluator"),
    ]
    stored = [m for m in await vibe.messages() if m["role"] == "check"]
    assert len(stored) == 1 and stored[0]["refusal"]["reason"] == reason
    assert stored[0]["iteration"] == 1 and stored[0]["refusal"]["tests"] == []
    assert stored[0]["content"].startswith("Refused before review: ")
    assert expected_in_error in stored[0]["content"]


@pytest.mark.parametrize(
    "header",
    ["--- a/settings.py\n+++ b/settings.py\n", "--- a/../workflow.py\n+++ b/../workflow.py\n"],
    ids=["other-file", "climbs-out"],
)
async def test_diff_outside_the_project_file_is_refused(
    vibe: Vibe, model_server, header: str
) -> None:
    body = RENAME.split("+++ b/workflow.py\n", 1)[1]
    model_server.script(
        custom_tool_call("submit_patch", patch_input("sneaky", header + body)),
        text("I cannot change that file."),
    )

    finished = await vibe.run("Handle refunds")

    # Not "answered": the run's only patch was refused, and the run says so.
    assert finished["outcome"] == "patch_refused"
    assert finished["refusal"].startswith("Refused before review: the patch was not applied.")
    assert model_server.requests[1].tool_outputs()[-1].startswith("The patch was not applied:")
    assert await Diff.objects.acount() == 0
    person = await ConversationMessage.objects.aget(session__id=vibe.session_id, role="user")
    assert person.run_outcome == "patch_refused"


@pytest.fixture(params=["sqlite", "database"])
async def memory_backend(request, settings) -> AsyncIterator[str]:
    """Each memory test runs on both stores of AGENT_MEMORY."""
    settings.AGENT_MEMORY = request.param
    yield request.param
    await dispose_engines()


async def test_memory_carries_the_first_exchange(
    vibe: Vibe, model_server, memory_backend: str
) -> None:
    model_server.script(text("Answer one about zebras."), text("Answer two."))

    await vibe.run("First question about zebras")
    await vibe.run("Second question")

    second = model_server.requests[1].input_text()
    assert "First question about zebras" in second
    assert "Answer one about zebras." in second
    key = f"project_{vibe.project.slug}"
    stored_in_database = await AgentMemoryMessage.objects.filter(session_id=key).acount()
    assert (stored_in_database >= 4) is (memory_backend == "database")


async def test_deleting_a_project_forgets_its_memory(vibe: Vibe, model_server, settings) -> None:
    settings.AGENT_MEMORY = "database"
    other = await sync_to_async(create_project)(vibe.project.owner, "Shop 2", WORKFLOW)
    await AgentMemorySession.objects.acreate(session_id=f"project_{other.slug}")
    model_server.script(text("noted"))
    await vibe.run("remember this")
    await dispose_engines()

    response = await vibe.client.delete(f"/api/projects/{vibe.project.id}")

    assert response.status_code == 204
    assert [s.session_id async for s in AgentMemorySession.objects.all()] == [
        f"project_{other.slug}"
    ]


async def test_node_and_global_sessions_have_separate_memory(
    vibe: Vibe, model_server, memory_backend: str
) -> None:
    response = await vibe.client.post(
        f"/api/projects/{vibe.project.id}/sessions",
        {"session_type": "node", "node_id": "Billing"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    node = response.json()
    stored = await VibecodeSession.objects.aget(id=node["id"])
    assert stored.openai_session_key == f"project_{vibe.project.slug}_node_Billing"
    model_server.script(text("global answer"), text("node answer"))

    await vibe.run("global secret walrus")
    await vibe.run("node question", session_id=node["id"])

    node_request = model_server.requests[1].input_text()
    assert "walrus" not in node_request
    assert "agent named 'Billing'" in node_request
    assert [m["content"] for m in await vibe.messages(node["id"])] == [
        "node question",
        "node answer",
    ]


async def test_deleting_a_session_clears_its_memory(
    vibe: Vibe, model_server, memory_backend: str
) -> None:
    model_server.script(text("noted: aardvark"), text("fresh"))
    await vibe.run("remember aardvark")

    response = await vibe.client.delete(f"/api/sessions/{vibe.session_id}")
    assert response.status_code == 204
    response = await vibe.client.post(
        f"/api/projects/{vibe.project.id}/sessions", {}, content_type="application/json"
    )
    assert response.status_code == 201
    await vibe.run("hello again", session_id=response.json()["id"])

    assert "aardvark" not in model_server.requests[1].input_text()


async def test_rate_limit_is_retried(vibe: Vibe, model_server) -> None:
    model_server.script(
        error(429, "slow down", headers={"retry-after-ms": "10"}), text("after the retry")
    )

    finished = await vibe.run("hi")

    assert finished["outcome"] == "text"
    assert len(model_server.requests) == 2
    assert vibe.events[1]["content"] == "after the retry"


async def test_repeated_server_errors_end_the_run_with_an_error(
    vibe: Vibe, model_server, settings
) -> None:
    settings.VIBECODE_MODEL_RETRIES = 2
    model_server.script(*[error(500, "boom") for _ in range(3)])

    finished = await vibe.run("hi")

    assert finished["outcome"] == "error"
    assert "500" in finished["error"]
    assert len(model_server.requests) == 3
    session = await VibecodeSession.objects.aget(id=vibe.session_id)
    assert session.run_state == "failed"
    assert "500" in session.last_error


async def test_a_model_that_never_answers_hits_the_run_time_limit(
    vibe: Vibe, model_server, settings
) -> None:
    settings.VIBECODE_RUN_TIMEOUT_SECONDS = 1.0
    model_server.script(hang())

    finished = await vibe.run("hi")

    assert finished["outcome"] == "error"
    assert "did not finish within 1 s" in finished["error"]
    session = await VibecodeSession.objects.aget(id=vibe.session_id)
    assert session.run_state == "failed"


async def test_second_message_during_a_run_is_refused(vibe: Vibe, model_server) -> None:
    model_server.script(text("slow answer", delay=1.0))

    first = await vibe.send("one")
    second = await vibe.send("two")

    assert first.status_code == 202
    assert second.status_code == 409
    assert "already going" in second.json()["detail"]
    await vibe.until("run_finished")
    contents = [m["content"] for m in await vibe.messages()]
    assert contents == ["one", "slow answer"]


async def test_no_credentials_answers_503(vibe: Vibe, settings) -> None:
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""

    response = await vibe.send("hi")

    assert response.status_code == 503
    assert "OPENAI_API_KEY" in response.json()["detail"]
    assert await ConversationMessage.objects.acount() == 0


async def test_chat_completions_server_gets_a_function_tool(vibe: Vibe, chat_model_server) -> None:
    chat_model_server.script(
        function_call("submit_patch", {"patch": RENAME, "description": "Mention refunds"}),
        text(verdict(True, "Fine.", "feat: refunds")),
    )

    finished = await vibe.run("Billing should also handle refunds")

    assert finished["outcome"] == "diff"
    first = chat_model_server.requests[0].body
    assert first["stream"] is True
    assert first["stream_options"] == {"include_usage": True}
    assert [t["function"]["name"] for t in first["tools"]] == ["submit_patch"]
    assert vibe.events[1]["content"] == "Mention refunds"
    assert vibe.events[2]["usage"]["total_tokens"] == 18
    diff = await Diff.objects.aget(id=finished["diff_id"])
    assert diff.patched_code == WORKFLOW.replace("invoices.", "invoices and refunds.")


async def test_a_run_starts_from_head_when_git_is_ahead_of_the_row(
    vibe: Vibe, model_server
) -> None:
    """A commit a crash left in git but not in the row is the run's base, never the row."""
    project = vibe.project
    ahead = WORKFLOW.replace("Help with invoices.", "Help with invoices and refunds.")
    sha = await sync_to_async(git.commit_file)(
        project.slug, project.main_file, ahead, "Made before the crash", "A", "a@example.com"
    )
    model_server.script(text("Billing now handles refunds too."))

    finished = await vibe.run("What does billing do?")

    assert finished["outcome"] == "text"
    assert "Help with invoices and refunds." in model_server.requests[0].input_text()
    assert f"(commit {sha[:12]})" in model_server.requests[0].input_text()
    await project.arefresh_from_db()
    assert (project.current_commit, project.current_code) == (sha, ahead)
