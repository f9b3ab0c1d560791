"""Projects API through HTTP: creation, ownership, validation, and rows that match git."""

import threading
import uuid

import pytest
from django.db import DatabaseError, connection
from django.db.models.signals import pre_save

from projects.git import repository as git
from projects.models import GitRef, Project
from projects.sample_workflow import STARTER_CODE
from projects.services import commit_project_code, create_project
from projects.storage import conversations_db, repository_dir

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("git_storage")]

CODE = "from agents import Agent\n\nbot = Agent(name='Bot')\n"


def test_create_with_code_makes_a_repository(api, media_root) -> None:
    response = api.post("/api/projects", {"name": "My Project", "code": CODE}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "my-project"
    assert body["current_code"] == CODE
    assert body["main_file"] == "workflow.py"
    assert "repository_path" not in body  # the server's business (admin only)
    assert Project.objects.get(id=body["id"]).repository_path == "projects/my-project"
    assert body["current_branch"] == "main"
    head = git.read_head("my-project", "workflow.py")
    assert (head.code, head.commit) == (CODE, body["current_commit"])
    assert git.history("my-project")[0].message == "Initial agent code"


def test_code_defaults_to_the_starter_workflow(api) -> None:
    body = api.post("/api/projects", {"name": "Starter"}, format="json").json()
    assert body["current_code"] == STARTER_CODE


def test_slugs_are_suffixed_on_collision(api, other_api) -> None:
    slugs = [
        api.post("/api/projects", {"name": "Same Name"}, format="json").json()["slug"],
        api.post("/api/projects", {"name": "same name"}, format="json").json()["slug"],
        other_api.post("/api/projects", {"name": "Same  Name!"}, format="json").json()["slug"],
    ]
    assert slugs == ["same-name", "same-name-2", "same-name-3"]


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("snake_case_name", "snake-case-name"),  # slugify keeps underscores
        ("X\u00a1\U000f0000%x_\u00dclo", "xx-ulo"),  # the fuzzer's find: it was a 500
        ("__--__", "project"),
        ("\U0001f600", "project"),
    ],
)
def test_any_name_makes_a_safe_slug(api, name: str, slug: str) -> None:
    response = api.post("/api/projects", {"name": name}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["slug"] == slug


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({}, "name", "required"),
        ({"name": ""}, "name", "blank"),
        ({"name": "   "}, "name", "blank"),
        ({"name": "x" * 101}, "name", "100"),
        ({"name": 5.5, "code": 3}, "code", "valid string"),
        ({"name": "ok", "code": "def (:\n"}, "code", "line 1"),
        ({"name": "ok", "code": "x = 1\n" + "#" * 200_001}, "code", "limit"),
        ({"name": ["a"]}, "name", "valid string"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_made(api, media_root, body, field, says) -> None:
    response = api.post("/api/projects", body, format="json")

    assert response.status_code == 400
    assert says in " ".join(response.json()[field])
    assert not Project.objects.exists()
    assert not (media_root / "projects").exists() or not any((media_root / "projects").iterdir())


def test_non_json_body_is_a_400(api) -> None:
    response = api.generic("POST", "/api/projects", "name=x", content_type="text/plain")
    assert response.status_code == 415


def test_list_and_detail_show_only_the_owners_projects(api, other_api, user) -> None:
    mine = create_project(user, "Mine", CODE)
    api_list = api.get("/api/projects").json()["results"]
    other_list = other_api.get("/api/projects").json()["results"]

    assert [p["id"] for p in api_list] == [str(mine.id)]
    assert "current_code" not in api_list[0]
    assert other_list == []
    assert api.get(f"/api/projects/{mine.id}").json()["current_code"] == CODE
    assert other_api.get(f"/api/projects/{mine.id}").status_code == 404
    assert other_api.get(f"/api/projects/{mine.id}/commits").status_code == 404
    assert other_api.delete(f"/api/projects/{mine.id}").status_code == 404
    assert api.get(f"/api/projects/{uuid.uuid4()}").status_code == 404
    assert api.get("/api/projects/not-a-uuid").status_code == 404
    assert Project.objects.filter(id=mine.id).exists()


def test_credentials_are_required(anon_api, user) -> None:
    project = create_project(user, "Locked", CODE)
    for response in (
        anon_api.get("/api/projects"),
        anon_api.post("/api/projects", {"name": "x"}, format="json"),
        anon_api.get(f"/api/projects/{project.id}"),
        anon_api.get(f"/api/projects/{project.id}/commits"),
    ):
        assert response.status_code == 401
    assert anon_api.get("/api/projects", HTTP_AUTHORIZATION="Token nope").status_code == 401


def test_token_endpoint(anon_api, user) -> None:
    good = anon_api.post(
        "/api/auth/token", {"username": "alice", "password": "alice-password-123"}, format="json"
    )
    bad = anon_api.post("/api/auth/token", {"username": "alice", "password": "no"}, format="json")

    assert good.status_code == 200
    assert (
        anon_api.get(
            "/api/projects", HTTP_AUTHORIZATION=f"Token {good.json()['token']}"
        ).status_code
        == 200
    )
    assert bad.status_code == 401


def test_commits_and_nodes(api, user) -> None:
    project = create_project(user, "History", CODE)
    new_code = CODE + "helper = Agent(name='Helper')\n"
    commit_project_code(project.id, new_code, "feat: helper", "A", "a@x", project.current_commit)

    commits = api.get(f"/api/projects/{project.id}/commits").json()["results"]
    nodes = api.get(f"/api/projects/{project.id}/nodes").json()

    assert [c["message"] for c in commits] == ["feat: helper", "Initial agent code"]
    assert set(commits[0]) == {
        "sha", "message", "author", "author_email", "time", "trailers", "diff_id", "session_id"
    }  # fmt: skip
    assert (commits[0]["trailers"], commits[0]["diff_id"]) == ({}, None)
    assert [n["name"] for n in nodes] == ["Bot", "Helper"]
    assert nodes[0]["start_line"] == 3


def test_delete_removes_row_repository_and_memory(
    api, user, django_capture_on_commit_callbacks
) -> None:
    project = create_project(user, "Doomed", CODE)
    conversations_db(project.slug).write_bytes(b"memory")

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/projects/{project.id}")

    assert response.status_code == 204
    assert not Project.objects.filter(id=project.id).exists()
    assert not repository_dir(project.slug).exists()
    assert not conversations_db(project.slug).exists()


def test_failed_repository_step_leaves_no_row(user, media_root, git_storage) -> None:
    # Something where the next free repository would go (a file on the filesystem, a
    # branch left by a crash in the database) makes git fail.
    if git_storage == "filesystem":
        (media_root / "projects").mkdir()
        (media_root / "projects" / "blocked").write_text("not a repository")
    else:
        GitRef.objects.create(repository="blocked", name=git.BRANCH_REF, target="0" * 40)
    project = create_project(user, "Blocked", CODE)
    assert project.slug == "blocked-2"

    with pytest.raises(git.GitError):
        git.create_repository("blocked", "workflow.py", CODE, "m", "a", "a@x")
    assert Project.objects.count() == 1


def test_failed_row_step_removes_the_repository(user, media_root) -> None:
    def fail(**kwargs) -> None:
        raise DatabaseError("disk full")

    pre_save.connect(fail, sender=Project, dispatch_uid="fail-project-save")
    try:
        with pytest.raises(DatabaseError):
            create_project(user, "Unsaved", CODE)
    finally:
        pre_save.disconnect(dispatch_uid="fail-project-save", sender=Project)

    assert not Project.objects.exists()
    assert not repository_dir("unsaved").exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_commits_of_one_base_agree_with_git(user) -> None:
    project = create_project(user, "Race", CODE)
    outcomes: list[str] = []

    def commit(n: int) -> None:
        try:
            commit_project_code(
                project.id, CODE + f"n = {n}\n", f"c{n}", "A", "a@x", project.current_commit
            )
            outcomes.append("ok")
        except git.HeadMovedError:
            outcomes.append("moved")
        finally:
            connection.close()

    threads = [threading.Thread(target=commit, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    project.refresh_from_db()
    head = git.read_head(project.slug, "workflow.py")
    assert sorted(outcomes) == ["moved", "ok"]
    assert (project.current_commit, project.current_code) == (head.commit, head.code)
    assert len(git.history(project.slug)) == 2
