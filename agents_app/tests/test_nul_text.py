"""NUL characters from the model are stored (as U+FFFD) instead of failing the run.

PostgreSQL refuses NUL in text and jsonb; the fields of vibegrapher/text_fields.py
clean it on both databases, so the two behave alike.
"""

import pytest

from agents_app.tests.conftest import Vibe, change, patch_input, verdict
from reviews.models import Diff
from sessions_app.models import ConversationMessage, VibecodeSession
from tests.support.model_server import custom_tool_call, text

pytestmark = pytest.mark.django_db(transaction=True)

RENAME_REFUNDS = change(
    'instructions="Help with invoices."', 'instructions="Help with invoices and refunds."'
)


async def test_a_model_reply_with_nul_is_stored_and_shown(vibe: Vibe, model_server) -> None:
    model_server.script(text("Triage\x00hands off."))

    finished = await vibe.run("What does triage do?")

    assert finished["outcome"] == "text"
    answer = vibe.events[1]
    stored = await ConversationMessage.objects.aget(id=answer["message_id"])
    assert stored.content == "Triage\ufffdhands off."
    assert "Triage\ufffdhands off." in str(stored.openai_response)
    session = await VibecodeSession.objects.aget(id=vibe.session_id)
    assert session.run_state == "idle"
    history = await vibe.messages()
    assert history[-1]["content"] == "Triage\ufffdhands off."


async def test_an_evaluator_reasoning_with_nul_still_gives_a_diff(vibe: Vibe, model_server) -> None:
    model_server.script(
        custom_tool_call("submit_patch", patch_input("Mention\x00refunds", RENAME_REFUNDS)),
        text(verdict(True, "Does\x00what was asked.", "feat: refunds\x00")),
    )

    finished = await vibe.run("Billing should also handle refunds")

    assert finished["outcome"] == "diff", finished
    diff = await Diff.objects.aget(id=finished["diff_id"])
    assert diff.evaluator_reasoning == "Does\ufffdwhat was asked."
    assert "\x00" not in diff.commit_message
    vibecoder = await ConversationMessage.objects.filter(agent="vibecoder").alast()
    assert vibecoder is not None and vibecoder.content == "Mention\ufffdrefunds"
