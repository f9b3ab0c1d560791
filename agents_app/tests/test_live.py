"""The main flows against the real OpenAI API: `pytest -m live` with OPENAI_API_KEY set."""

import os

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from accounts.tokens import create_token
from agents_app.tests.conftest import WORKFLOW, Vibe
from projects.services import create_project
from reviews.models import Diff
from sessions_app.models import ConversationMessage
from tests.support.fixtures import ProjectSocket, TokenClient
from vibegrapher.asgi import application

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("OPENAI_API_KEY"), reason="needs OPENAI_API_KEY"),
]

LIVE_TIMEOUT = 600.0


@pytest.fixture
async def live_vibe(transactional_db, user: User, settings):
    settings.OPENAI_API_KEY = os.environ["OPENAI_API_KEY"]
    settings.OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "")
    token = await sync_to_async(create_token)(user)
    project = await sync_to_async(create_project)(user, "Live Shop", WORKFLOW)
    client = TokenClient(token)
    session = await client.post(
        f"/api/projects/{project.id}/sessions", {}, content_type="application/json"
    )
    socket = ProjectSocket(
        application,
        f"/ws/projects/{project.id}/?token={token}",
        headers=[(b"origin", b"http://localhost")],
    )
    assert (await socket.connect())[0]
    yield Vibe(client=client, project=project, session_id=session.json()["id"], socket=socket)
    await socket.disconnect()


async def test_question_gets_a_text_answer(live_vibe: Vibe) -> None:
    response = await live_vibe.send("Which agents does the triage agent hand off to? No changes.")
    assert response.status_code == 202
    finished = await live_vibe.until("run_finished", wait=LIVE_TIMEOUT)

    assert finished["outcome"] == "text"
    answer = await ConversationMessage.objects.filter(agent="vibecoder").alast()
    assert answer is not None
    assert "Billing" in answer.content
    assert answer.token_usage["total_tokens"] > 0
    assert answer.openai_response["output"]


async def test_change_request_produces_a_reviewed_diff(live_vibe: Vibe) -> None:
    response = await live_vibe.send(
        "Add a Refunds agent (name='Refunds', instructions about refund requests) "
        "and let triage hand off to it."
    )
    assert response.status_code == 202
    finished = await live_vibe.until("run_finished", wait=LIVE_TIMEOUT)

    assert finished["outcome"] in ("diff", "max_iterations"), finished
    if finished["outcome"] == "diff":
        diff = await Diff.objects.aget(id=finished["diff_id"])
        assert 'name="Refunds"' in diff.patched_code or "name='Refunds'" in diff.patched_code
        assert diff.commit_message
    evaluations = ConversationMessage.objects.filter(agent="evaluator")
    assert await evaluations.aexists()
