"""Reconciliation in-process: git ahead of the rows is recorded; the rows follow HEAD."""

import pytest

from projects.git import repository as git
from projects.models import Project
from projects.services import create_project, reconcile
from reviews.models import Diff
from reviews.tests.test_diff_api import CODE, make_diff
from sessions_app.models import VibecodeSession
from sessions_app.services import get_or_create_session

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("git_storage")]


@pytest.fixture
def project(user) -> Project:
    return create_project(user, "Kind Bot", CODE)


@pytest.fixture
def session(project: Project) -> VibecodeSession:
    return get_or_create_session(project, "global")[0]


def test_a_commit_in_git_with_a_diff_trailer_marks_its_diff_committed(
    api, project, session
) -> None:
    diff = make_diff(project, session, "Kind.", status="human_approved")
    # What a process killed after the branch moved leaves: git ahead, rows behind.
    sha = git.commit_file(
        project.slug, project.main_file, diff.patched_code,
        git.with_diff_trailer("feat: kind", diff.id), "A", "a@x", project.current_commit,
    )  # fmt: skip

    reconciled = reconcile(project.id)

    assert (reconciled.current_commit, reconciled.current_code) == (sha, diff.patched_code)
    diff.refresh_from_db()
    assert (diff.status, diff.committed_sha, diff.commit_message) == (
        "committed", sha, "feat: kind"
    )  # fmt: skip
    # The retried commit is a conflict naming the state, never "HEAD moved".
    retried = api.post(f"/api/diffs/{diff.id}/commit", {}, format="json")
    assert retried.status_code == 409
    assert "committed" in retried.json()["detail"]
    assert git.history(project.slug)[0].message == "feat: kind"


def test_a_commit_made_outside_the_app_moves_the_row_and_no_diff(project, session) -> None:
    diff = make_diff(project, session, "Other.", status="human_approved")
    sha = git.commit_file(
        project.slug, project.main_file, CODE + "# by hand\n", "by hand", "A", "a@x"
    )

    reconciled = reconcile(project.id)

    assert reconciled.current_commit == sha
    assert reconciled.current_code == CODE + "# by hand\n"
    diff.refresh_from_db()
    assert diff.status == "human_approved"  # its base is no longer HEAD: a commit is a 409


def test_the_row_follows_a_branch_reset_behind_it(project, session) -> None:
    first = project.current_commit
    diff = make_diff(project, session, "Two.", status="human_approved")
    second = git.commit_file(project.slug, project.main_file, diff.patched_code, "two", "A", "a@x")
    reconcile(project.id)
    git.reset_branch(project.slug, first, undoing=second)

    reconciled = reconcile(project.id)

    assert reconciled.current_commit == first
    assert reconciled.current_code == CODE
    assert Diff.objects.get(id=diff.id).status == "human_approved"
