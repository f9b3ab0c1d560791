"""Diffs API: listing, preview, review, commit (with real races) and refine-message."""

import json
import threading
import uuid

import pytest
from django.db import connection

from agents_app.patching import unified_diff
from agents_app.runs import active_run
from projects import git
from projects.models import Project
from projects.services import commit_project_code, create_project
from reviews.models import Diff
from sessions_app.models import ConversationMessage, VibecodeSession
from sessions_app.services import get_or_create_session
from tests.support.model_server import text

CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("git_storage")]


def make_diff(project: Project, session: VibecodeSession, new_text: str, **fields) -> Diff:
    new_code = CODE.replace("Help.", new_text)
    return Diff.objects.create(
        session=session,
        project=project,
        base_commit=project.current_commit,
        diff_content=unified_diff(CODE, new_code, "workflow.py"),
        patched_code=new_code,
        vibecoder_prompt="be nicer",
        evaluator_reasoning="Fine.",
        commit_message=f"feat: {new_text}",
        **fields,
    )


@pytest.fixture
def project(user) -> Project:
    return create_project(user, "Review Me", CODE)


@pytest.fixture
def session(project: Project) -> VibecodeSession:
    return get_or_create_session(project, "global")[0]


@pytest.fixture
def diff(project, session) -> Diff:
    return make_diff(project, session, "Help kindly.")


def test_iterations_are_linked_both_ways(api, project, session, diff) -> None:
    """A rejected diff names the diffs its feedback led to, and they name it back, in
    the detail and in every list."""
    diff.status, diff.human_feedback = Diff.Status.HUMAN_REJECTED, "Warmer, please."
    diff.save()
    second = make_diff(project, session, "Help warmly.", previous=diff)
    unrelated = make_diff(project, session, "Other.")

    first_json = api.get(f"/api/diffs/{diff.id}").json()
    second_json = api.get(f"/api/diffs/{second.id}").json()
    listed = {d["id"]: d for d in api.get(f"/api/projects/{project.id}/diffs").json()["results"]}
    by_session = api.get(f"/api/sessions/{session.id}/diffs").json()["results"]

    assert first_json["previous_iteration_id"] is None
    assert first_json["next_iteration_ids"] == [str(second.id)]
    assert first_json["human_feedback"] == "Warmer, please."
    assert second_json["previous_iteration_id"] == str(diff.id)
    assert second_json["next_iteration_ids"] == []
    assert listed[str(diff.id)]["next_iteration_ids"] == [str(second.id)]
    assert listed[str(second.id)]["previous_iteration_id"] == str(diff.id)
    assert listed[str(unrelated.id)]["previous_iteration_id"] is None
    assert {d["id"]: d["next_iteration_ids"] for d in by_session}[str(diff.id)] == [str(second.id)]


def test_lists_and_preview(api, other_api, project, session, diff) -> None:
    committed = make_diff(project, session, "Old.", status="committed")

    by_project = api.get(f"/api/projects/{project.id}/diffs").json()["results"]
    by_session = api.get(f"/api/sessions/{session.id}/diffs").json()["results"]
    pending = api.get(f"/api/sessions/{session.id}/diffs/pending").json()["results"]
    one = api.get(f"/api/diffs/{diff.id}").json()
    preview = api.get(f"/api/diffs/{diff.id}/preview").json()

    assert {d["id"] for d in by_project} == {str(diff.id), str(committed.id)}
    assert {d["id"] for d in by_session} == {str(diff.id), str(committed.id)}
    assert [d["id"] for d in pending] == [str(diff.id)]
    assert one["status"] == "evaluator_approved" and one["commit_message"] == "feat: Help kindly."
    assert preview == {
        "original": CODE,
        "patched": CODE.replace("Help.", "Help kindly."),
        "diff": diff.diff_content,
    }
    for url in (
        f"/api/diffs/{diff.id}",
        f"/api/diffs/{diff.id}/preview",
        f"/api/projects/{project.id}/diffs",
        f"/api/sessions/{session.id}/diffs",
    ):
        assert other_api.get(url).status_code == 404
    assert api.get(f"/api/diffs/{uuid.uuid4()}").status_code == 404


def test_approve_then_commit(api, project, diff) -> None:
    approved = api.post(f"/api/diffs/{diff.id}/review", {"approved": True}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "human_approved"

    committed = api.post(
        f"/api/diffs/{diff.id}/commit", {"commit_message": "feat: kinder bot"}, format="json"
    )

    assert committed.status_code == 200, committed.json()
    sha = committed.json()["committed_sha"]
    project.refresh_from_db()
    head = git.read_head(project.slug, "workflow.py")
    assert (project.current_commit, project.current_code) == (sha, head.code)
    assert head.code == CODE.replace("Help.", "Help kindly.")
    assert git.history(project.slug)[0].message == "feat: kinder bot"
    assert git.history(project.slug)[0].author_name == "alice"
    diff.refresh_from_db()
    assert (diff.status, diff.committed_sha) == ("committed", sha)


def test_wrong_status_and_bad_input(api, other_api, diff) -> None:
    url = f"/api/diffs/{diff.id}"
    assert api.post(f"{url}/commit", {}, format="json").status_code == 409  # not approved yet
    no_feedback = api.post(f"{url}/review", {"approved": False}, format="json")
    blank = api.post(f"{url}/review", {"approved": False, "feedback": "  "}, format="json")
    missing = api.post(f"{url}/review", {}, format="json")
    not_json = api.generic("POST", f"{url}/review", "nope", content_type="application/json")
    foreign = other_api.post(f"{url}/review", {"approved": True}, format="json")

    assert no_feedback.status_code == 400 and "feedback" in no_feedback.json()
    assert blank.status_code == 400 and "feedback" in blank.json()
    assert missing.status_code == 400 and "approved" in missing.json()
    assert not_json.status_code == 400
    assert foreign.status_code == 404
    assert api.post(f"{url}/review", {"approved": True}, format="json").status_code == 200
    again = api.post(f"{url}/review", {"approved": True}, format="json")
    assert again.status_code == 409 and "human_approved" in again.json()["detail"]
    diff.refresh_from_db()
    assert diff.status == "human_approved"


def test_commit_refused_when_head_moved(api, project, diff) -> None:
    api.post(f"/api/diffs/{diff.id}/review", {"approved": True}, format="json")
    commit_project_code(project.id, CODE + "# elsewhere\n", "other", "a", "a@x",
                        project.current_commit)  # fmt: skip

    response = api.post(f"/api/diffs/{diff.id}/commit", {}, format="json")

    assert response.status_code == 409
    assert "HEAD moved" in response.json()["detail"]
    diff.refresh_from_db()
    assert diff.status == "human_approved"
    assert git.read_head(project.slug, "workflow.py").code == CODE + "# elsewhere\n"


def test_commit_refused_when_the_patched_file_is_over_the_size_limit(
    api, project, session, settings
) -> None:
    big = make_diff(project, session, "Help." + " kindly" * 20, status="human_approved")
    settings.MAX_CODE_BYTES = len(big.patched_code.encode()) - 1

    response = api.post(f"/api/diffs/{big.id}/commit", {}, format="json")

    assert response.status_code == 409
    assert f"the limit is {settings.MAX_CODE_BYTES} bytes" in response.json()["detail"]
    big.refresh_from_db()
    assert (big.status, big.committed_sha) == ("human_approved", "")
    project.refresh_from_db()
    assert project.current_code == CODE
    assert git.read_head(project.slug, project.main_file).code == CODE


def _race(api, urls: list[str]) -> list[int]:
    codes: list[int] = []

    def post(url: str) -> None:
        try:
            codes.append(api.post(url, {}, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(codes)


@pytest.mark.django_db(transaction=True)
def test_two_commits_of_one_diff_give_one_commit(api, project, diff) -> None:
    Diff.objects.filter(id=diff.id).update(status="human_approved")

    codes = _race(api, [f"/api/diffs/{diff.id}/commit"] * 2)

    assert codes == [200, 409]
    assert len(git.history(project.slug)) == 2
    project.refresh_from_db()
    assert project.current_commit == git.read_head(project.slug, "workflow.py").commit


@pytest.mark.django_db(transaction=True)
def test_two_diffs_on_one_base_give_one_commit(api, project, session) -> None:
    first = make_diff(project, session, "One.", status="human_approved")
    second = make_diff(project, session, "Two.", status="human_approved")

    codes = _race(api, [f"/api/diffs/{first.id}/commit", f"/api/diffs/{second.id}/commit"])

    assert codes == [200, 409]
    statuses = sorted(Diff.objects.values_list("status", flat=True))
    assert statuses == ["committed", "human_approved"]
    project.refresh_from_db()
    head = git.read_head(project.slug, "workflow.py")
    assert (project.current_commit, project.current_code) == (head.commit, head.code)
    winner = Diff.objects.get(status="committed")
    assert winner.committed_sha == head.commit and head.code == winner.patched_code


@pytest.mark.django_db(transaction=True)
async def test_reject_starts_a_new_round_with_the_feedback(model_server, async_api, diff) -> None:
    model_server.script(text("I will make it friendlier."))

    response = await async_api.post(
        f"/api/diffs/{diff.id}/review",
        {"approved": False, "feedback": "Too formal; make it warm."},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "human_rejected"
    assert response.json()["human_feedback"] == "Too formal; make it warm."
    task = active_run(diff.session_id)
    assert task is not None
    await task
    prompt = model_server.requests[0].input_text()
    assert "Too formal; make it warm." in prompt and "+bot = Agent(" in prompt


@pytest.mark.django_db(transaction=True)
async def test_reject_without_a_model_leaves_the_diff_as_it_was(async_api, diff, settings) -> None:
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""

    response = await async_api.post(
        f"/api/diffs/{diff.id}/review",
        {"approved": False, "feedback": "no"},
        content_type="application/json",
    )

    assert response.status_code == 503
    refreshed = await Diff.objects.aget(id=diff.id)
    assert (refreshed.status, refreshed.human_feedback) == ("evaluator_approved", "")


@pytest.mark.django_db(transaction=True)
async def test_refine_message(model_server, async_api, diff) -> None:
    model_server.script(
        text(json.dumps({"approved": True, "reasoning": "ok", "commit_message": "feat: warmer"}))
    )

    response = await async_api.post(
        f"/api/diffs/{diff.id}/refine-message", {"hint": "mention warmth"},
        content_type="application/json",
    )  # fmt: skip

    assert response.status_code == 200, response.content
    assert response.json() == {"commit_message": "feat: warmer"}
    # A suggestion: the diff keeps its message until the person commits with it.
    assert (await Diff.objects.aget(id=diff.id)).commit_message == diff.commit_message
    refine_call = await ConversationMessage.objects.aget(session_id=diff.session_id)
    assert refine_call.diff_id == diff.id
    # Not an Evaluator's review: its own label, and what it suggested.
    assert refine_call.agent == "refiner"
    assert refine_call.get_agent_display() == "Commit message refiner"
    assert refine_call.content == "Suggested commit message: feat: warmer"
    assert "mention warmth" in model_server.requests[0].input_text()
