"""Stopping a run: `POST /api/sessions/{id}/cancel`, here and on another process."""

import asyncio
import time
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.tokens import create_token
from agents_app import all_agents, runs
from agents_app.tests.conftest import Vibe, change, patch_input
from sessions_app.models import ConversationMessage, VibecodeSession
from tests.support.fixtures import TokenClient, wait_for_requests
from tests.support.model_server import ModelServer, custom_tool_call, hang, text


async def requests_reached(model: ModelServer, count: int) -> None:
    await asyncio.to_thread(wait_for_requests, model, count)


async def cancel(vibe: Vibe, session_id: str | None = None) -> Any:
    return await vibe.client.post(f"/api/sessions/{session_id or vibe.session_id}/cancel")


async def test_stop_ends_a_hanging_run_within_a_second_and_keeps_what_was_stored(
    vibe: Vibe, model_server: ModelServer
) -> None:
    model_server.script(hang(), text("Back again."))
    assert (await vibe.send("Rename the agents")).status_code == 202
    await requests_reached(model_server, 1)

    asked = time.monotonic()
    response = await cancel(vibe)
    finished = await vibe.until("run_finished", wait=1.0)
    took = time.monotonic() - asked

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "cancelled"}
    assert took < 1.0
    assert finished["outcome"] == "cancelled" and "error" not in finished
    session = await VibecodeSession.objects.aget(id=vibe.session_id)
    assert session.run_state == "idle" and session.last_error == ""
    assert runs.active_run(uuid.UUID(vibe.session_id)) is None
    assert [m["content"] for m in await vibe.messages()] == ["Rename the agents"]

    # The session is free, and the agents' memory still works for the next message.
    again = await vibe.run("Hello?")
    assert again["outcome"] == "text"
    assert [m["content"] for m in await vibe.messages()][-1] == "Back again."


async def test_stop_during_the_evaluator_keeps_the_vibecoders_message(
    vibe: Vibe, model_server: ModelServer
) -> None:
    diff = change('name="Billing"', 'name="Invoices"')
    model_server.script(
        custom_tool_call(all_agents.SUBMIT_PATCH, patch_input("Rename billing", diff)),
        hang(),
    )
    assert (await vibe.send("Rename billing")).status_code == 202
    await vibe.until("conversation_message")  # the person's own message
    vibecoder = await vibe.until("conversation_message")
    await requests_reached(model_server, 2)

    response = await cancel(vibe)
    finished = await vibe.until("run_finished", wait=1.0)

    assert response.status_code == 200
    assert finished["outcome"] == "cancelled"
    stored = [m["id"] for m in await vibe.messages()]
    assert vibecoder["message_id"] in stored
    assert not await ConversationMessage.objects.filter(agent="evaluator").aexists()
    session = await VibecodeSession.objects.aget(id=vibe.session_id)
    assert session.run_state == "idle"

    # The next message works, and the VibeCoder's memory sent with it has no tool
    # call without its output (which the OpenAI API refuses).
    model_server.script(text("Fine."))
    assert (await vibe.run("Never mind"))["outcome"] == "text"
    items = model_server.requests[-1].body["input"]
    calls = {i["call_id"] for i in items if i.get("type") in ("custom_tool_call", "function_call")}
    outputs = {i["call_id"] for i in items if str(i.get("type", "")).endswith("_call_output")}
    assert calls == outputs, items


async def test_cancel_is_refused_without_a_run_and_hidden_from_other_people(
    vibe: Vibe, model_server: ModelServer, other_user: User
) -> None:
    idle = await cancel(vibe)
    assert idle.status_code == 409
    assert idle.json() == {"detail": "No run is going in this session."}
    assert (await cancel(vibe, str(uuid.uuid4()))).status_code == 404

    model_server.script(hang())
    assert (await vibe.send("one")).status_code == 202
    await requests_reached(model_server, 1)
    stranger = TokenClient(await sync_to_async(create_token)(other_user))
    refused = await stranger.post(f"/api/sessions/{vibe.session_id}/cancel")
    assert refused.status_code == 404
    assert refused.json() == {"detail": "No such session."}
    assert runs.active_run(uuid.UUID(vibe.session_id)) is not None
    assert (await vibe.client.get(f"/api/sessions/{vibe.session_id}/cancel")).status_code == 405
    assert (await cancel(vibe)).status_code == 200


async def test_a_run_of_another_process_is_flagged_and_its_owner_stops_it(
    vibe: Vibe, model_server: ModelServer, settings: pytest.FixtureRequest
) -> None:
    # The owner's side: its heartbeat reads the flag another process set.
    settings.RUN_HEARTBEAT_SECONDS = 0.2  # type: ignore[attr-defined]
    model_server.script(hang())
    assert (await vibe.send("one")).status_code == 202
    await requests_reached(model_server, 1)
    await VibecodeSession.objects.filter(id=vibe.session_id).aupdate(run_cancel_requested=True)
    finished = await vibe.until("run_finished", wait=2.0)
    assert finished["outcome"] == "cancelled"
    session = await VibecodeSession.objects.aget(id=vibe.session_id)
    assert session.run_state == "idle" and not session.run_cancel_requested

    # The asking side: a run owned elsewhere (no task here) gets the flag, and 202.
    await VibecodeSession.objects.filter(id=vibe.session_id).aupdate(
        run_state="running", run_owner="other-host:1:cafe", run_heartbeat_at=timezone.now()
    )
    response = await cancel(vibe)
    assert response.status_code == 202
    assert response.json() == {"status": "cancelling"}
    assert (await VibecodeSession.objects.aget(id=vibe.session_id)).run_cancel_requested


async def test_stop_keeps_the_answer_written_so_far_marked_stopped(
    vibe: Vibe, model_server: ModelServer
) -> None:
    answer = "The billing agent hands refunds over to the support agent, and then " * 4
    model_server.script(text(answer, stream_delay_s=0.3), text("Back again."))
    assert (await vibe.send("Explain the workflow")).status_code == 202
    delta = await vibe.until("message_delta")

    assert (await cancel(vibe)).status_code == 200
    finished = await vibe.until("run_finished", wait=2.0)

    assert finished["outcome"] == "cancelled"
    shown = "".join(
        e["delta"] for e in vibe.stream if e["type"] == "message_delta" and e["kind"] == "text"
    )
    assert shown and answer.startswith(shown) and shown != answer
    # Every open browser gets it as a stored message of the live text's id, before the end.
    kept = [e for e in vibe.events if e["type"] == "conversation_message" and e.get("stopped")]
    assert [(e["message_id"], e["content"]) for e in kept] == [(delta["message_id"], shown)]
    assert vibe.types().index("conversation_message", 1) < vibe.types().index("run_finished")
    # After a reload: the person's message, then the partial answer, marked stopped.
    messages = await vibe.messages()
    assert [(m["agent"], m["content"], m["stopped"]) for m in messages] == [
        ("user", "Explain the workflow", False),
        ("vibecoder", shown, True),
    ]
    assert messages[1]["id"] == delta["message_id"]

    again = await vibe.run("Hello?")
    assert again["outcome"] == "text"
    assert [m["stopped"] for m in await vibe.messages()] == [False, True, False, False]


async def test_a_stop_before_any_text_keeps_no_empty_message(
    vibe: Vibe, model_server: ModelServer
) -> None:
    model_server.script(hang())
    assert (await vibe.send("Rename the agents")).status_code == 202
    await requests_reached(model_server, 1)
    assert (await cancel(vibe)).status_code == 200
    await vibe.until("run_finished", wait=2.0)
    assert not await ConversationMessage.objects.filter(stopped=True).aexists()
