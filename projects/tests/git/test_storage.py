"""Repositories in the database, moving them between stores, and exporting a bundle."""

import io
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from projects.git import repository as git
from projects.git import storage as git_storage
from projects.models import GitObject, GitRef, Project
from projects.services import commit_project_code, create_project
from projects.storage import repository_dir

pytestmark = pytest.mark.django_db

CODE = "from agents import Agent\n\nbot = Agent(name='Bot', instructions='v0')\n"


def add_commits(project: Project, count: int) -> list[str]:
    shas = []
    for n in range(1, count + 1):
        project = commit_project_code(
            project.id, CODE.replace("v0", f"v{n}"), f"feat: v{n}", "Ann", "ann@x",
            project.current_commit,
        )  # fmt: skip
        shas.append(project.current_commit)
    return shas


def git_log(clone: Path) -> list[str]:
    done = subprocess.run(
        [git.GIT_BINARY, "-C", str(clone), "log", "--topo-order", "--format=%H %s"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.splitlines()


@pytest.mark.usefixtures("git_storage")
def test_export_bundle_clones_with_the_same_commits(api, user, tmp_path) -> None:
    project = create_project(user, "Exported", CODE)
    shas = add_commits(project, 3)
    history = [f"{sha} feat: v{n}" for n, sha in enumerate(shas, 1)][::-1]
    history.append(f"{project.current_commit} Initial agent code")

    response = api.get(f"/api/projects/{project.id}/export")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-git-bundle"
    assert 'filename="exported.bundle"' in response["Content-Disposition"]
    bundle = tmp_path / "project.bundle"
    bundle.write_bytes(b"".join(response.streaming_content if response.streaming else
                                [response.content]))  # fmt: skip
    subprocess.run([git.GIT_BINARY, "clone", "-q", str(bundle), str(tmp_path / "clone")],
                   check=True, capture_output=True)  # fmt: skip
    assert git_log(tmp_path / "clone") == history
    assert (tmp_path / "clone" / "workflow.py").read_text() == CODE.replace("v0", "v3")

    call_command("export_project", project.slug, str(tmp_path / "cmd.bundle"), stdout=io.StringIO())
    subprocess.run([git.GIT_BINARY, "clone", "-q", str(tmp_path / "cmd.bundle"),
                    str(tmp_path / "clone2")], check=True, capture_output=True)  # fmt: skip
    assert git_log(tmp_path / "clone2") == history


def test_export_of_another_users_project_is_a_404(other_api, user) -> None:
    project = create_project(user, "Private", CODE)
    assert other_api.get(f"/api/projects/{project.id}/export").status_code == 404


def test_move_repositories_round_trip_with_20_commits(user, settings, media_root) -> None:
    settings.GIT_STORAGE = "filesystem"
    project = create_project(user, "Twenty", CODE)
    add_commits(project, 20)
    on_disk = git.history(project.slug, limit=1000)
    assert len(on_disk) == 21

    out = io.StringIO()
    call_command("move_repositories", "--to", "database", stdout=out)
    assert "twenty: copied, 63 objects written, 21 commits verified" in out.getvalue()
    again = io.StringIO()
    call_command("move_repositories", "--to", "database", stdout=again)
    assert "twenty: already there, 0 objects written, 21 commits verified" in again.getvalue()

    settings.GIT_STORAGE = "database"
    assert set(git.history(project.slug, limit=1000)) == set(on_disk)
    assert git.read_head(project.slug, "workflow.py").code == CODE.replace("v0", "v20")
    project.refresh_from_db()
    add_commits(project, 1)  # the database copy takes commits
    in_database = git.history(project.slug, limit=1000)
    # (Ordered by commit time, which ties within a second: compared as sets.)
    assert set(on_disk) < set(in_database) and len(in_database) == len(on_disk) + 1

    # Back to a directory: the directory is still at the old tip, so it is refused...
    with pytest.raises(Exception, match="not moved"):
        call_command("move_repositories", "--to", "filesystem", stdout=io.StringIO(),
                     stderr=io.StringIO())  # fmt: skip
    # ...until it is out of the way; then the copy has every commit.
    repository_dir(project.slug).rename(media_root / "old-copy")
    call_command("move_repositories", "--to", "filesystem", stdout=io.StringIO())
    settings.GIT_STORAGE = "filesystem"
    assert set(git.history(project.slug, limit=1000)) == set(in_database)
    assert git.read_head(project.slug, "workflow.py").code == CODE.replace("v0", "v1")


def test_a_move_that_would_drop_commits_is_refused(user, settings) -> None:
    settings.GIT_STORAGE = "filesystem"
    project = create_project(user, "Moved Twice", CODE)
    call_command("move_repositories", "--to", "database", stdout=io.StringIO())
    add_commits(project, 1)  # committed on the directory after the move

    err = io.StringIO()
    with pytest.raises(Exception, match="1 repositories not moved"):
        call_command("move_repositories", "--to", "database", stdout=io.StringIO(), stderr=err)
    assert "not overwriting" in err.getvalue()


def test_the_branch_moves_by_compare_and_swap_with_the_rows(user, settings) -> None:
    settings.GIT_STORAGE = "database"
    project = create_project(user, "Atomic", CODE)
    base = project.current_commit

    # The branch's move is part of the transaction: when the rows fail, so does it.
    with pytest.raises(RuntimeError), transaction.atomic():
        commit_project_code(project.id, CODE + "# x\n", "x", "A", "a@x", base)
        raise RuntimeError("the diff's row could not be saved")
    assert git.read_head(project.slug, "workflow.py").commit == base
    assert GitRef.objects.get(repository=project.slug).target == base

    with pytest.raises(git_storage.RefMoved):
        git_storage.move_ref(project.slug, git.BRANCH_REF, "0" * 40, "1" * 40)
    assert GitRef.objects.get(repository=project.slug).target == base
    # Objects are stored compressed, keyed by repository and id.
    stored = GitObject.objects.get(repository=project.slug, oid=base)
    assert stored.type == 1 and bytes(stored.data)[:1] == b"\x78"
