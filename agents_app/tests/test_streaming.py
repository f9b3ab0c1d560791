"""Live text over the project's WebSocket: `message_delta`, then the stored message."""

from typing import Any

from agents_app import all_agents
from agents_app.tests.conftest import Vibe, change, patch_input, verdict
from tests.support.model_server import ModelServer, custom_tool_call, cut, text

ANSWER = (
    "The Triage agent hands customers to Support or Billing. Support can look up an "
    "order with its tool; Billing answers questions about invoices. Nothing else runs."
)


def deltas(vibe: Vibe, message_id: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in vibe.stream
        if e["type"] == "message_delta" and message_id in (None, e["message_id"])
    ]


async def test_text_streams_as_coalesced_deltas_that_add_up_to_the_stored_message(
    vibe: Vibe, model_server: ModelServer
) -> None:
    # 16 characters per event, one event every 20 ms: ~12 events in ~250 ms.
    model_server.script(text(ANSWER, stream_delay_s=0.02))
    finished = await vibe.run("What does this workflow do?")

    assert finished["outcome"] == "text"
    stored = (await vibe.messages())[-1]
    live = deltas(vibe)
    assert live, vibe.types()
    assert {d["message_id"] for d in live} == {stored["id"]}
    assert {(d["agent"], d["kind"], d["session_id"]) for d in live} == {
        ("vibecoder", "text", vibe.session_id)
    }
    assert "".join(d["delta"] for d in live) == stored["content"] == ANSWER
    # Coalesced: fewer events than the model sent, yet live (several before the end).
    chunks = -(-len(ANSWER) // 16)
    assert 2 <= len(live) < chunks
    # Every delta comes before the stored message that replaces it.
    final_at = next(
        i
        for i, e in enumerate(vibe.stream)
        if e["type"] == "conversation_message" and e["message_id"] == stored["id"]
    )
    assert all(vibe.stream.index(d) < final_at for d in live)


async def test_a_patch_streams_as_patch_and_the_evaluator_under_its_own_message(
    vibe: Vibe, model_server: ModelServer
) -> None:
    diff = change('name="Billing"', 'name="Invoices"')
    submitted = patch_input("Rename billing", diff)
    # Escapes in the JSON verdict (json.dumps writes é as \u00e9) cut across events.
    reasoning = 'Fine: "Billing" becomes "Invoices" \\ é 𝄞\nas asked.'
    model_server.script(
        custom_tool_call(all_agents.SUBMIT_PATCH, submitted, stream_delay_s=0.005),
        text(verdict(True, reasoning, "feat: rename billing"), stream_delay_s=0.005),
    )
    finished = await vibe.run("Rename billing")

    assert finished["outcome"] == "diff", finished
    vibecoder, evaluator = [
        e for e in vibe.events if e["type"] == "conversation_message" and e["role"] == "assistant"
    ]
    patch = deltas(vibe, vibecoder["message_id"])
    assert {(d["kind"], d["agent"], d["iteration"]) for d in patch} == {("patch", "vibecoder", 1)}
    assert "".join(d["delta"] for d in patch) == submitted
    review = deltas(vibe, evaluator["message_id"])
    assert {(d["kind"], d["agent"], d["iteration"]) for d in review} == {("text", "evaluator", 1)}
    # The verdict streams as its reasoning only, never as raw JSON.
    assert "\\u00e9" in verdict(True, reasoning, "feat: rename billing")
    assert "".join(d["delta"] for d in review) == reasoning
    assert len(deltas(vibe)) == len(patch) + len(review)


async def test_a_cut_answer_asked_again_restarts_the_live_text(
    vibe: Vibe, model_server: ModelServer
) -> None:
    model_server.script(cut(text("The first answer, which never ends " * 5), 8), text(ANSWER))
    finished = await vibe.run("What does this workflow do?")

    assert finished["outcome"] == "text"
    stored = (await vibe.messages())[-1]
    live = deltas(vibe, stored["id"])
    restarts = [i for i, d in enumerate(live) if d.get("restart")]
    # The cut attempt's deltas were shown, then dropped; the retry's add up.
    assert len(restarts) == 1
    assert "".join(d["delta"] for d in live[restarts[0] :]) == ANSWER


SUMMARY = (
    "**Reading the workflow**\n\nThe person asks what the workflow does: Triage hands "
    "off to Support and Billing, so I describe those three agents."
)


async def test_a_reasoning_summary_streams_as_reasoning_and_stays_with_the_message(
    vibe: Vibe, model_server: ModelServer
) -> None:
    model_server.script(text(ANSWER, reasoning=SUMMARY, stream_delay_s=0.01))
    finished = await vibe.run("What does this workflow do?")

    assert finished["outcome"] == "text", finished
    # Asked for: gpt-5 is a reasoning model, on the Responses API.
    assert model_server.requests[0].body["reasoning"] == {"summary": "auto"}
    stored = (await vibe.messages())[-1]
    reasoning = [d for d in deltas(vibe) if d["kind"] == "reasoning"]
    answer = [d for d in deltas(vibe) if d["kind"] == "text"]
    assert "".join(d["delta"] for d in reasoning) == SUMMARY
    assert "".join(d["delta"] for d in answer) == ANSWER == stored["content"]
    # The summary is written before the answer, and kept: in the live event that
    # replaces the text, and in the stored message a reload reads.
    assert vibe.stream.index(reasoning[-1]) < vibe.stream.index(answer[0])
    final = next(e for e in vibe.events if e.get("message_id") == stored["id"])
    assert final["reasoning_summary"] == stored["reasoning_summary"] == SUMMARY


async def test_models_that_do_not_reason_are_not_sent_reasoning_settings(
    vibe: Vibe, model_server: ModelServer, settings: Any
) -> None:
    settings.THINKING_MODEL = "gpt-4.1"
    model_server.script(text(ANSWER))
    assert (await vibe.run("What does this workflow do?"))["outcome"] == "text"
    assert "reasoning" not in model_server.requests[0].body

    settings.REASONING_EFFORT = "low"
    settings.THINKING_MODEL = "o4-mini"
    model_server.script(text(ANSWER))
    assert (await vibe.run("And now?"))["outcome"] == "text"
    assert model_server.requests[1].body["reasoning"] == {"summary": "auto", "effort": "low"}


async def test_chat_completions_get_no_reasoning_summary_request(
    vibe: Vibe, chat_model_server: ModelServer
) -> None:
    chat_model_server.script(text(ANSWER))
    assert (await vibe.run("What does this workflow do?"))["outcome"] == "text"
    body = chat_model_server.requests[0].body
    assert "reasoning" not in body and "reasoning_effort" not in body
