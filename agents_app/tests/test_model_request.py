"""The request stored beside each response is the one the model server received."""

import uuid

import pytest

from agents_app.tests.conftest import Vibe, change, patch_input, verdict
from sessions_app.models import ConversationMessage
from tests.support.model_server import custom_tool_call, text

pytestmark = pytest.mark.django_db(transaction=True)


async def test_stored_request_equals_what_the_model_received(vibe: Vibe, model_server) -> None:
    diff = change('instructions="Help with invoices."', 'instructions="Help with refunds."')
    model_server.script(
        custom_tool_call("submit_patch", patch_input("Refunds", diff)),
        text(verdict(True, "Fine.", "feat: refunds")),
    )

    finished = await vibe.run("Billing should handle refunds")

    assert finished["outcome"] == "diff"
    stored = [
        m
        async for m in ConversationMessage.objects.filter(
            session_id=uuid.UUID(vibe.session_id), role="assistant"
        ).order_by("created_at")
    ]
    assert [m.agent for m in stored] == ["vibecoder", "evaluator"]
    assert len(model_server.requests) == 2
    for message, received in zip(stored, model_server.requests, strict=True):
        request = message.openai_request
        assert request is not None
        assert request["instructions"] == received.body["instructions"]
        assert request["input"] == received.body["input"]
        assert request["model"] == received.body["model"]
        sent_tools = [tool["name"] for tool in received.body.get("tools", [])]
        assert [tool["name"] for tool in request["tools"]] == sent_tools
    vibecoder_request = stored[0].openai_request
    assert vibecoder_request is not None
    assert "Billing should handle refunds" in str(vibecoder_request["input"])
    assert vibecoder_request["tools"][0]["name"] == "submit_patch"
    assert stored[1].openai_request["output_type"] == "Evaluation"
