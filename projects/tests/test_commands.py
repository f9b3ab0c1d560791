"""`manage.py seed` and `manage.py reset_db`."""

import io
import re

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from projects.git import repository as git
from projects.models import Project, TestCase
from projects.sample_workflow import OLD_STRUCTURE_TEST, SAMPLE_CODE, STRUCTURE_TEST
from projects.services import create_project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("git_storage")]


def seed() -> str:
    out = io.StringIO()
    call_command("seed", stdout=out)
    return out.getvalue()


def test_seed_creates_the_demo_user_and_sample_project(monkeypatch) -> None:
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    output = seed()

    password = re.search(r"as demo / (\S+)", output)
    assert password, output
    user = User.objects.get(username="demo")
    assert user.check_password(password.group(1))
    project = Project.objects.get(owner=user)
    assert project.name == "Agent Triage System"
    assert project.current_code == SAMPLE_CODE
    assert git.history(project.slug)[0].message == "Initial agent code"
    tests = list(TestCase.objects.filter(project=project).order_by("name"))
    assert len(tests) == 2
    assert sorted(t.quick_test for t in tests) == [False, True]


def test_seed_twice_changes_nothing(monkeypatch) -> None:
    monkeypatch.setenv("DEMO_PASSWORD", "chosen-password-9")
    first = seed()
    counts = (User.objects.count(), Project.objects.count(), TestCase.objects.count())
    commit = Project.objects.get().current_commit

    second = seed()

    assert "chosen-password-9" not in first  # taken from the environment, not printed
    assert User.objects.get(username="demo").check_password("chosen-password-9")
    assert (User.objects.count(), Project.objects.count(), TestCase.objects.count()) == counts
    assert Project.objects.get().current_commit == commit
    assert "exists" in second and "changepassword" in second


def test_seed_lets_an_unedited_old_structure_test_accept_new_agents(monkeypatch) -> None:
    monkeypatch.setenv("DEMO_PASSWORD", "chosen-password-9")
    seed()
    project = Project.objects.get()
    seeded = TestCase.objects.get(project=project, name="Workflow structure")
    assert seeded.test_code == STRUCTURE_TEST and "names ==" not in STRUCTURE_TEST
    # A project seeded before: its structure test wanted exactly two handoffs.
    TestCase.objects.filter(id=seeded.id).update(test_code=OLD_STRUCTURE_TEST)
    edited = TestCase.objects.create(
        project=project, name="Mine", test_code=OLD_STRUCTURE_TEST + "# mine\n", quick_test=True
    )

    output = seed()

    assert "Updated the seeded structure test" in output
    assert TestCase.objects.get(id=seeded.id).test_code == STRUCTURE_TEST
    # A test the person wrote or edited is theirs: left alone.
    assert TestCase.objects.get(id=edited.id).test_code == OLD_STRUCTURE_TEST + "# mine\n"
    assert "Updated" not in seed()


def test_reset_db_needs_confirmation(user) -> None:
    create_project(user, "Keep Me", "x = 1\n")
    with pytest.raises(CommandError, match="--yes"):
        call_command("reset_db")
    assert Project.objects.filter(name="Keep Me").exists()


# Outside a test transaction: PostgreSQL refuses to TRUNCATE tables with pending
# deferred-constraint checks, as a real `reset_db` never has.
@pytest.mark.django_db(transaction=True)
def test_reset_db_wipes_data_and_media_then_seeds(
    user, media_root, monkeypatch, git_storage
) -> None:
    monkeypatch.setenv("DEMO_PASSWORD", "chosen-password-9")
    create_project(user, "Gone Soon", "x = 1\n")
    (media_root / "stray.txt").write_text("x")

    call_command("reset_db", "--yes", stdout=io.StringIO())

    assert list(Project.objects.values_list("name", flat=True)) == ["Agent Triage System"]
    assert not User.objects.filter(username="alice").exists()
    assert sorted(p.name for p in media_root.iterdir()) == ["projects"]
    repositories = [p.name for p in (media_root / "projects").iterdir()]
    if git_storage == "filesystem":
        assert repositories == ["agent-triage-system"]
    else:
        assert repositories == []
        assert git.repository_exists("agent-triage-system")
        assert not git.repository_exists("gone-soon")
