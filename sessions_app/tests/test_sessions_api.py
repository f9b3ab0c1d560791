"""Sessions and messages API: creation, ownership, validation, history and deletion."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from agents_app.runs import PROCESS_ID, mark_interrupted_runs
from projects.models import Project
from projects.services import create_project
from sessions_app.models import ConversationMessage, VibecodeSession

pytestmark = pytest.mark.django_db

CODE = """\
from agents import Agent

helper = Agent(name="Helper", instructions="Help.")
boss = Agent(name="Boss", instructions="Delegate.", handoffs=[helper])
"""


@pytest.fixture
def project(user) -> Project:
    return create_project(user, "Sessions Project", CODE)


def create_session(api, project: Project, **body):
    return api.post(f"/api/projects/{project.id}/sessions", body, format="json")


def test_global_session_is_created_once(api, project: Project) -> None:
    first = create_session(api, project)
    again = create_session(api, project, session_type="global")

    assert first.status_code == 201
    assert again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    stored = VibecodeSession.objects.get(id=first.json()["id"])
    assert stored.openai_session_key == "project_sessions-project"
    assert stored.conversations_db_path == "projects/sessions-project_conversations.db"
    assert "openai_session_key" not in first.json()  # the server's business (admin only)
    assert first.json()["run_state"] == "idle"


def test_node_session_must_name_an_agent_in_the_code(api, project: Project) -> None:
    created = create_session(api, project, session_type="node", node_id="Helper")
    unknown = create_session(api, project, session_type="node", node_id="Ghost")
    missing = create_session(api, project, session_type="node")
    stray = create_session(api, project, node_id="Helper")
    bad_type = create_session(api, project, session_type="team")

    assert created.status_code == 201
    node = VibecodeSession.objects.get(id=created.json()["id"])
    assert node.openai_session_key == "project_sessions-project_node_Helper"
    assert unknown.status_code == 404  # a well-formed name no agent has
    assert "Ghost" in unknown.json()["detail"] and "Boss" in unknown.json()["detail"]
    assert missing.status_code == 400 and "node_id" in missing.json()
    assert stray.status_code == 400 and "node_id" in stray.json()
    assert bad_type.status_code == 400 and "session_type" in bad_type.json()
    assert VibecodeSession.objects.count() == 1


def test_sessions_are_listed_and_read_by_their_owner_only(
    api, other_api, anon_api, project: Project
) -> None:
    session_id = create_session(api, project).json()["id"]

    listed = api.get(f"/api/projects/{project.id}/sessions")
    assert [s["id"] for s in listed.json()["results"]] == [session_id]
    assert api.get(f"/api/sessions/{session_id}").json()["project_id"] == str(project.id)
    assert other_api.get(f"/api/sessions/{session_id}").status_code == 404
    assert other_api.get(f"/api/projects/{project.id}/sessions").status_code == 404
    assert create_session(other_api, project).status_code == 404
    assert other_api.get(f"/api/sessions/{session_id}/messages").status_code == 404
    assert anon_api.get(f"/api/sessions/{session_id}").status_code in (401, 403)
    assert anon_api.get(f"/api/sessions/{session_id}/messages").status_code == 401
    assert api.get(f"/api/sessions/{uuid.uuid4()}").status_code == 404


def test_prompt_is_validated_before_anything_is_stored(api, project: Project, settings) -> None:
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    session_id = create_session(api, project).json()["id"]
    url = f"/api/sessions/{session_id}/messages"

    empty = api.post(url, {"prompt": "   "}, format="json")
    missing = api.post(url, {}, format="json")
    wrong_type = api.post(url, {"prompt": ["a"]}, format="json")
    too_long = api.post(url, {"prompt": "x" * (settings.MAX_PROMPT_CHARS + 1)}, format="json")
    not_json = api.generic("POST", url, "{nope", content_type="application/json")

    assert empty.status_code == 400 and "empty" in empty.json()["prompt"][0]
    assert missing.status_code == 400 and "prompt" in missing.json()
    assert wrong_type.status_code == 400 and "prompt" in wrong_type.json()
    assert too_long.status_code == 400 and "prompt" in too_long.json()
    assert not_json.status_code == 400 and "JSON" in not_json.json()["detail"]
    assert ConversationMessage.objects.count() == 0
    assert VibecodeSession.objects.get(id=session_id).run_state == "idle"


def test_history_after_a_message(api, project: Project) -> None:
    session = VibecodeSession.objects.get(id=create_session(api, project).json()["id"])
    first, second, third = (
        ConversationMessage.objects.create(session=session, role="user", agent="user", content=c)
        for c in ("one", "two", "three")
    )
    url = f"/api/sessions/{session.id}/messages"

    everything = api.get(url).json()["results"]
    after_first = api.get(url, {"after": str(first.id)}).json()["results"]
    after_last = api.get(url, {"after": str(third.id)}).json()["results"]
    unknown = api.get(url, {"after": str(uuid.uuid4())})
    malformed = api.get(url, {"after": "not-a-uuid"})
    empty = api.get(url, {"after": ""}).json()["results"]

    assert [m["content"] for m in everything] == ["one", "two", "three"]
    assert [m["content"] for m in after_first] == ["two", "three"]
    assert after_last == []
    assert unknown.status_code == 404 and "not the id of a message" in unknown.json()["detail"]
    assert malformed.status_code == 400 and "after" in malformed.json()
    assert empty == everything
    assert everything[1]["id"] == str(second.id)


def test_full_response_is_readable_by_its_owner(api, other_api, project: Project) -> None:
    session = VibecodeSession.objects.get(id=create_session(api, project).json()["id"])
    message = ConversationMessage.objects.create(
        session=session,
        role="assistant",
        agent="vibecoder",
        content="hi",
        openai_response={"id": "resp_1", "output": [{"type": "message"}]},
        token_usage={"total_tokens": 3},
    )

    full = api.get(f"/api/messages/{message.id}/full")

    assert full.status_code == 200
    assert full.json()["openai_response"]["id"] == "resp_1"
    assert other_api.get(f"/api/messages/{message.id}/full").status_code == 404


def test_delete_removes_the_session_and_its_messages(api, project: Project) -> None:
    session = VibecodeSession.objects.get(id=create_session(api, project).json()["id"])
    ConversationMessage.objects.create(session=session, role="user", agent="user", content="x")

    assert api.delete(f"/api/sessions/{session.id}").status_code == 204
    assert not VibecodeSession.objects.exists()
    assert not ConversationMessage.objects.exists()


def test_a_running_session_cannot_be_deleted(api, project: Project) -> None:
    session = VibecodeSession.objects.get(id=create_session(api, project).json()["id"])
    VibecodeSession.objects.filter(id=session.id).update(
        run_state="running", run_owner=PROCESS_ID, run_heartbeat_at=timezone.now()
    )

    response = api.delete(f"/api/sessions/{session.id}")

    assert response.status_code == 409
    assert VibecodeSession.objects.filter(id=session.id).exists()


def test_only_runs_with_a_stale_heartbeat_become_interrupted(project: Project, settings) -> None:
    """Liveness is the heartbeat: another live process on this host keeps its run."""
    settings.RUN_STALE_AFTER_SECONDS = 60
    host = PROCESS_ID.split(":")[0]
    now = timezone.now()

    def running(owner: str, heartbeat_age: float | None, node: str) -> VibecodeSession:
        return VibecodeSession.objects.create(
            project=project,
            session_type="node",
            node_id=node,
            openai_session_key=f"k-{node}",
            conversations_db_path="x",
            run_state="running",
            run_owner=owner,
            run_heartbeat_at=now - timedelta(seconds=heartbeat_age) if heartbeat_age else None,
        )

    running(f"{host}:1:deadbeef", 1, "same-host-alive")
    running(f"{host}:2:deadbeef", 61, "same-host-silent")
    running("other-host:1:cafe", 3600, "elsewhere-silent")
    running("other-host:2:cafe", 59, "elsewhere-alive")
    running("", None, "never-heard")

    assert mark_interrupted_runs() == 3

    states = dict(VibecodeSession.objects.values_list("node_id", "run_state"))
    assert states == {
        "same-host-alive": "running",
        "same-host-silent": "interrupted",
        "elsewhere-silent": "interrupted",
        "elsewhere-alive": "running",
        "never-heard": "interrupted",
    }
    silent = VibecodeSession.objects.get(node_id="same-host-silent")
    assert "send the message again" in silent.last_error
