"""NUL characters from a test's output or a person's input never break a request.

Stored as U+FFFD on both databases (vibegrapher/text_fields.py); PostgreSQL would
otherwise refuse them ("cannot contain NUL").
"""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client

from projects.models import Project, TestCase
from projects.sample_workflow import SAMPLE_CODE
from projects.services import create_project
from reviews.models import Diff
from sessions_app.models import VibecodeSession
from testruns import diff_tests
from testruns.tests.test_diff_tests import KEEPS_WORKFLOW, _diff
from tests.support.fixtures import TokenClient

PRINTS_NUL = 'print("before\\x00after")\n'


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("bubblewrap")
async def test_a_test_printing_nul_finishes_and_keeps_its_output(
    async_api: TokenClient, user: User
) -> None:
    def setup() -> Diff:
        project = create_project(user, "Nul Output", SAMPLE_CODE)
        TestCase.objects.create(project=project, name="prints nul", test_code=PRINTS_NUL)
        return _diff(project, KEEPS_WORKFLOW)

    diff = await sync_to_async(setup)()

    started = await async_api.post(f"/api/diffs/{diff.id}/test", {}, "application/json")
    assert started.status_code == 202, started.content
    task = diff_tests.running_task(diff.id)
    assert task is not None
    await task

    stored = await Diff.objects.aget(id=diff.id)
    assert stored.tests_started_at is None  # finished, not left "running"
    assert stored.tests_run_at is not None
    [result] = stored.test_results
    assert result["status"] == "passed"
    assert "before\ufffdafter" in result["output"]
    again = await async_api.post(f"/api/diffs/{diff.id}/test", {}, "application/json")
    assert again.status_code == 202, again.content  # not 409: the claim was released
    task = diff_tests.running_task(diff.id)
    assert task is not None
    await task


@pytest.mark.django_db
def test_a_project_name_with_nul_from_the_page_form_is_refused_not_a_500(user: User) -> None:
    browser = Client()
    browser.force_login(user)

    page = browser.post("/", {"name": "Bad\x00Name"}, follow=True)

    assert page.status_code == 200
    assert b"cannot contain NUL" in page.content
    assert not Project.objects.exists()


@pytest.mark.django_db
def test_a_project_name_with_nul_from_the_api_is_a_400(api) -> None:
    response = api.post("/api/projects", {"name": "Bad\x00Name"}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()


@pytest.mark.django_db
def test_every_text_field_stores_nul_as_replacement_character(user: User) -> None:
    # Whatever a caller writes (save, update, JSON inside JSON), the database takes it.
    project = create_project(user, "Plain", SAMPLE_CODE)
    Project.objects.filter(id=project.id).update(name="A\x00B")
    test_case = TestCase.objects.create(project=project, name="t\x00", test_code="x = 1\x00")
    diff = _diff(project, KEEPS_WORKFLOW)
    Diff.objects.filter(id=diff.id).update(
        human_feedback="no\x00", test_results=[{"output\x00": ["a\x00", {"b": "c\x00"}]}]
    )
    session = VibecodeSession.objects.get(project=project)
    session.last_error = "boom\x00"
    session.save()

    project.refresh_from_db()
    test_case.refresh_from_db()
    diff.refresh_from_db()
    session.refresh_from_db()
    assert project.name == "A\ufffdB"
    assert (test_case.name, test_case.test_code) == ("t\ufffd", "x = 1\ufffd")
    assert diff.human_feedback == "no\ufffd"
    assert diff.test_results == [{"output\ufffd": ["a\ufffd", {"b": "c\ufffd"}]}]
    assert session.last_error == "boom\ufffd"
    assert Project.objects.filter(name="A\x00B").get() == project  # lookups clean too
