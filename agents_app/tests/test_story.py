"""The conversation as a story: each run's outcome, and the person's review actions
(approved, rejected with feedback, committed as `abc1234`), stored and emitted live."""

from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.utils import timezone

from agents_app import all_agents, runs
from agents_app.tests.conftest import Vibe, change, patch_input, verdict
from sessions_app.models import ConversationMessage, VibecodeSession
from tests.support.model_server import ModelServer, custom_tool_call, error, hang, text

RENAME = change('name="Billing"', 'name="Invoices"')


def patch_then_approval(message: str) -> list[Any]:
    return [
        custom_tool_call(all_agents.SUBMIT_PATCH, patch_input("Rename billing", RENAME)),
        text(verdict(True, "Fine.", message)),
    ]


def actions(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["action"], m["content"]) for m in messages if m["role"] == "event"]


async def test_review_actions_are_stored_in_order_and_emitted(
    vibe: Vibe, model_server: ModelServer
) -> None:
    model_server.script(*patch_then_approval("feat: rename billing"))
    first = await vibe.run("Rename billing")
    assert first["outcome"] == "diff", first

    # Rejected with feedback: stored before the run the feedback starts.
    model_server.script(*patch_then_approval("feat: rename billing to invoices"))
    response = await vibe.client.post(
        f"/api/diffs/{first['diff_id']}/review",
        {"approved": False, "feedback": "Call it Invoices everywhere"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    second = await vibe.until("run_finished")
    assert second["outcome"] == "diff", second
    listed = await vibe.messages()
    rejected = next(i for i, m in enumerate(listed) if m["role"] == "event")
    assert listed[rejected]["diff_id"] == first["diff_id"]
    assert listed[rejected + 1]["role"] == "user"
    assert listed[rejected + 1]["content"] == "Call it Invoices everywhere"

    # Approved, then committed as the new HEAD.
    response = await vibe.client.post(
        f"/api/diffs/{second['diff_id']}/review",
        {"approved": True},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    response = await vibe.client.post(
        f"/api/diffs/{second['diff_id']}/commit", {}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    sha = response.json()["committed_sha"]
    await vibe.until("code_changed")

    listed = await vibe.messages()
    assert actions(listed) == [
        (
            "rejected",
            "Rejected the diff “feat: rename billing”; the feedback below starts the next run.",
        ),
        ("approved", "Approved the diff “feat: rename billing to invoices”."),
        ("committed", f"Committed the diff “feat: rename billing to invoices” as {sha[:7]}."),
    ]
    # Each was emitted as a conversation message, as the API lists it.
    emitted = {
        e["message_id"]: e
        for e in vibe.events
        if e["type"] == "conversation_message" and e["role"] == "event"
    }
    for message in (m for m in listed if m["role"] == "event"):
        event = emitted[message["id"]]
        assert (event["action"], event["content"], event["diff_id"]) == (
            message["action"], message["content"], message["diff_id"],
        )  # fmt: skip
    # Both runs ended with a diff; events never count as runs.
    outcomes = [m["run_outcome"] for m in listed if m["role"] == "user"]
    assert outcomes == ["diff", "diff"]


async def test_each_run_keeps_how_it_ended(vibe: Vibe, model_server: ModelServer) -> None:
    model_server.script(text("An answer."))
    assert (await vibe.run("What does it do?"))["outcome"] == "text"
    model_server.script(hang())
    response = await vibe.send("Wait forever")
    assert response.status_code == 202
    response = await vibe.client.post(f"/api/sessions/{vibe.session_id}/cancel")
    assert response.status_code == 200, response.content
    assert (await vibe.until("run_finished"))["outcome"] == "cancelled"
    model_server.script(error(400, "The request is wrong"))
    assert (await vibe.run("Fail, please"))["outcome"] == "error"
    listed = await vibe.messages()
    assert [m["run_outcome"] for m in listed if m["role"] == "user"] == [
        "text", "cancelled", "failed",
    ]  # fmt: skip


async def test_each_failed_run_keeps_its_own_reason(vibe: Vibe, model_server: ModelServer) -> None:
    model_server.script(error(400, "The first request is wrong"))
    first = await vibe.run("Fail once")
    model_server.script(text("Fine now."))
    assert (await vibe.run("Work"))["outcome"] == "text"
    model_server.script(error(400, "The second request is wrong"))
    second = await vibe.run("Fail again")

    assert "The first request is wrong" in first["error"]
    assert "The second request is wrong" in second["error"]
    requests = [m for m in await vibe.messages() if m["role"] == "user"]
    # A later failure does not hide an earlier one's reason; a run that worked has none.
    assert [(m["run_outcome"], m["run_error"]) for m in requests] == [
        ("failed", first["error"]), ("text", ""), ("failed", second["error"]),
    ]  # fmt: skip


async def test_a_run_whose_server_died_is_marked_interrupted(vibe: Vibe) -> None:
    await sync_to_async(_dead_run)(vibe.session_id)
    assert await sync_to_async(runs.mark_interrupted_runs)() == 1
    finished = await vibe.until("run_finished")
    assert (finished["outcome"], finished.get("interrupted")) == ("error", True)
    listed = await vibe.messages()
    assert [m["run_outcome"] for m in listed] == ["interrupted"]
    assert listed[0]["run_error"] == runs.OWNER_SILENT


def _dead_run(session_id: str) -> None:
    """What a server that died mid-run leaves: a running session nobody beats for."""
    ConversationMessage.objects.create(
        session_id=session_id, role="user", agent="user", content="Lost with the server"
    )
    VibecodeSession.objects.filter(id=session_id).update(
        run_state=VibecodeSession.RunState.RUNNING,
        run_owner="gone:1:dead",
        run_started_at=timezone.now() - timedelta(hours=1),
        run_heartbeat_at=timezone.now() - timedelta(hours=1),
    )
