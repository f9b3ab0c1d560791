"""The git service: repositories under MEDIA_ROOT/projects or in the database, nowhere else.

Every test runs on both stores of GIT_STORAGE (the `git_storage` fixture).
"""

import threading
import zlib

import pygit2
import pytest
from django.db import connection

from projects.git import repository as git
from projects.models import GitObject, GitRef
from projects.storage import UnsafePathError, conversations_db, repository_dir

pytestmark = pytest.mark.usefixtures("git_storage")


def make(slug: str = "demo", code: str = "print(1)\n") -> str:
    return git.create_repository(slug, "agents.py", code, "Initial agent code", "Ann", "ann@x")


def stored_repository(slug: str, git_storage: str, media_root) -> pygit2.Repository:
    """The repository as stored, read without `projects.git.repository`."""
    if git_storage == "filesystem":
        assert repository_dir(slug) == media_root / "projects" / slug
        return pygit2.Repository(str(repository_dir(slug)))
    assert not repository_dir(slug).exists()
    repo = pygit2.init_repository(str(media_root.parent / "copy.git"), bare=True)
    for row in GitObject.objects.filter(repository=slug):
        repo.odb.write(row.type, zlib.decompress(bytes(row.data)))
    return repo


def test_create_then_read_head(media_root, git_storage) -> None:
    sha = make()

    head = git.read_head("demo", "agents.py")

    assert head == git.HeadState(code="print(1)\n", commit=sha, branch="main")
    commit = stored_repository("demo", git_storage, media_root).get(sha)
    assert isinstance(commit, pygit2.Commit)
    assert commit.message == "Initial agent code"
    assert (commit.author.name, commit.author.email) == ("Ann", "ann@x")


def test_commit_history_and_old_versions() -> None:
    first = make()
    second = git.commit_file("demo", "agents.py", "print(2)\n", "feat: two", "Bo", "bo@x", first)

    assert git.read_head("demo", "agents.py").code == "print(2)\n"
    assert git.read_file_at("demo", "agents.py", first) == "print(1)\n"
    history = git.history("demo")
    assert [(c.sha, c.message, c.author_name) for c in history] == [
        (second, "feat: two", "Bo"),
        (first, "Initial agent code", "Ann"),
    ]
    assert git.history("demo", limit=1)[0].sha == second


def test_commit_refuses_when_head_moved() -> None:
    base = make()
    git.commit_file("demo", "agents.py", "print(2)\n", "two", "A", "a@x", base)

    with pytest.raises(git.HeadMovedError, match="HEAD moved"):
        git.commit_file("demo", "agents.py", "print(3)\n", "three", "A", "a@x", base)

    assert git.read_head("demo", "agents.py").code == "print(2)\n"
    assert len(git.history("demo")) == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_commits_on_one_base_give_one_commit() -> None:
    base = make()
    outcomes: list[str] = []

    def commit(n: int) -> None:
        try:
            git.commit_file("demo", "agents.py", f"print({n})\n", f"c{n}", "A", "a@x", base)
            outcomes.append("ok")
        except git.HeadMovedError:
            outcomes.append("moved")
        finally:
            connection.close()

    threads = [threading.Thread(target=commit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["moved"] * 7 + ["ok"]
    assert len(git.history("demo")) == 2


def test_delete_removes_the_repository(git_storage) -> None:
    make()
    git.delete_repository("demo")

    assert not repository_dir("demo").exists()
    if git_storage == "database":
        assert not GitObject.objects.exists() and not GitRef.objects.exists()
    with pytest.raises(git.GitError):
        git.read_head("demo", "agents.py")


def test_create_refuses_an_existing_path() -> None:
    make()
    with pytest.raises(git.GitError, match="already exists"):
        make()


@pytest.mark.parametrize("slug", ["../evil", "/etc", "a/b", "UPPER", "", "-x", "x-", "a..b"])
def test_unsafe_slugs_are_refused(slug: str, media_root) -> None:
    with pytest.raises(UnsafePathError):
        make(slug)
    with pytest.raises(UnsafePathError):
        conversations_db(slug)
    assert list(media_root.iterdir()) in ([], [media_root / "projects"])


@pytest.mark.parametrize(
    "filename", ["../x.py", "/etc/passwd", "dir/x.py", "..", ".git/config", ""]
)
def test_unsafe_file_names_are_refused(filename: str) -> None:
    with pytest.raises(UnsafePathError):
        git.create_repository("demo", filename, "x = 1\n", "m", "a", "a@x")
    base = make()
    with pytest.raises(UnsafePathError):
        git.commit_file("demo", filename, "x = 1\n", "m", "a", "a@x", base)
    with pytest.raises(UnsafePathError):
        git.read_head("demo", filename)


def test_stale_staged_repositories_are_discarded_fresh_ones_kept(media_root) -> None:
    import os
    import time

    old, _ = git.stage_repository("agents.py", "x = 1\n", "m", "a", "a@x")
    fresh, _ = git.stage_repository("agents.py", "x = 1\n", "m", "a", "a@x")
    an_hour_ago = time.time() - 3700
    os.utime(old, (an_hour_ago, an_hour_ago))

    assert git.discard_stale_staging() == 1
    assert not old.exists() and fresh.exists()
