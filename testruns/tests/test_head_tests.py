"""POST /api/projects/{id}/tests/run: the project's tests on its current code (HEAD)."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import transaction

from accounts.tokens import create_token
from projects.models import Project, TestCase
from projects.sample_workflow import SAMPLE_CODE
from projects.services import commit_project_code, create_project
from tests.support.fixtures import TokenClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("bubblewrap")]

PASSES = (
    "Has a triage agent",
    "import pathlib\nassert 'triage_agent' in pathlib.Path('workflow.py').read_text()\n",
    False,
)
FAILS_ON_HEAD = (
    "Needs patience",
    "import pathlib\n"
    "assert 'patiently' in pathlib.Path('workflow.py').read_text(), 'not patient'\n",
    True,
)


def _project(user: User) -> Project:
    project = create_project(user, "Agent Triage System", SAMPLE_CODE)
    for name, code, quick in [PASSES, FAILS_ON_HEAD]:
        TestCase.objects.create(project=project, name=name, test_code=code, quick_test=quick)
    return project


def _commit(project: Project, code: str) -> Project:
    with transaction.atomic():
        return commit_project_code(
            project.id, code, "feat: patience", "alice", "alice@example.com",
            expected_parent=project.current_commit,
        )  # fmt: skip


async def test_the_tests_run_on_the_committed_code_and_follow_a_new_commit(
    user: User, async_api: TokenClient
) -> None:
    project = await sync_to_async(_project)(user)
    url = f"/api/projects/{project.id}/tests/run"

    response = await async_api.post(url, {}, content_type="application/json")
    assert response.status_code == 200, response.content
    run = response.json()
    assert run["commit"] == project.current_commit
    statuses = {r["name"]: r["status"] for r in run["results"]}
    assert statuses == {"Has a triage agent": "passed", "Needs patience": "failed"}
    failed = next(r for r in run["results"] if r["name"] == "Needs patience")
    assert "not patient" in failed["output"]

    # The code moves on (a commit): the same test now passes, against the new HEAD.
    patient = SAMPLE_CODE.replace("step by step.", "step by step, patiently.")
    assert patient != SAMPLE_CODE
    moved = await sync_to_async(_commit)(project, patient)
    test = await TestCase.objects.aget(project=project, name="Needs patience")
    response = await async_api.post(url, {"test_id": str(test.id)}, content_type="application/json")
    assert response.status_code == 200, response.content
    one = response.json()
    assert one["commit"] == moved.current_commit != run["commit"]
    assert [(r["name"], r["status"]) for r in one["results"]] == [("Needs patience", "passed")]


async def test_bad_requests_name_the_problem(
    user: User, other_user: User, async_api: TokenClient
) -> None:
    project = await sync_to_async(create_project)(user, "Empty", SAMPLE_CODE)
    url = f"/api/projects/{project.id}/tests/run"
    response = await async_api.post(url, {}, content_type="application/json")
    assert response.status_code == 409
    assert "no test cases" in response.json()["detail"]
    response = await async_api.post(url, {"quick_only": "maybe"}, content_type="application/json")
    assert response.status_code == 400 and "quick_only" in response.json()
    response = await async_api.post(url, {"test_id": "nope"}, content_type="application/json")
    assert response.status_code == 400 and "test_id" in response.json()
    stranger = TokenClient(await sync_to_async(create_token)(other_user))
    response = await stranger.post(url, {}, content_type="application/json")
    assert response.status_code == 404
