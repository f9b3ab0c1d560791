"""Each project's own git repository, through pygit2.

Repositories are bare (no work tree to drift from HEAD) and live at
`MEDIA_ROOT/projects/<slug>`; the file names in them are plain top-level names. All
functions are synchronous: async callers run them in a thread.
"""

import shutil
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import pygit2

from projects.storage import check_file_name, repository_dir

BRANCH = "main"
BRANCH_REF = f"refs/heads/{BRANCH}"

# One writer per repository in this process; libgit2's ref lock guards across processes.
_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


class GitError(Exception):
    """A repository operation failed."""


class HeadMovedError(GitError):
    """HEAD is not the commit the change was based on."""


@dataclass(frozen=True)
class HeadState:
    code: str
    commit: str
    branch: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    author_name: str
    author_email: str
    committed_at: datetime


def _open(slug: str) -> pygit2.Repository:
    path = repository_dir(slug)
    if not path.is_dir():
        raise GitError(f"No repository for project {slug!r}.")
    try:
        return pygit2.Repository(str(path))
    except pygit2.GitError as exc:
        raise GitError(f"Cannot open the repository of {slug!r}: {exc}") from exc


def _signature(name: str, email: str) -> pygit2.Signature:
    return pygit2.Signature(name or "Vibegrapher", email or "vibegrapher@localhost")


def create_repository(
    slug: str, filename: str, content: str, message: str, author_name: str, author_email: str
) -> str:
    """A new repository whose first commit on `main` holds `filename`; returns its sha."""
    check_file_name(filename)
    path = repository_dir(slug)
    if path.exists():
        raise GitError(f"Something already exists at the repository path of {slug!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        repo = pygit2.init_repository(str(path), bare=True, initial_head=BRANCH)
        tree = repo.TreeBuilder()
        tree.insert(filename, repo.create_blob(content.encode()), pygit2.enums.FileMode.BLOB)
        signature = _signature(author_name, author_email)
        oid = repo.create_commit(BRANCH_REF, signature, signature, message, tree.write(), [])
    except (pygit2.GitError, OSError) as exc:
        shutil.rmtree(path, ignore_errors=True)
        raise GitError(f"Cannot create the repository of {slug!r}: {exc}") from exc
    return str(oid)


def _head_commit(repo: pygit2.Repository) -> pygit2.Commit:
    try:
        commit = repo.revparse_single(BRANCH_REF)
    except KeyError as exc:
        raise GitError("The repository has no commits on main.") from exc
    assert isinstance(commit, pygit2.Commit)
    return commit


def _file_in(commit: pygit2.Commit, filename: str) -> str:
    try:
        blob = commit.tree[check_file_name(filename)]
    except KeyError as exc:
        raise GitError(f"{filename} is not in commit {commit.id}.") from exc
    assert isinstance(blob, pygit2.Blob)
    return blob.data.decode()


def read_head(slug: str, filename: str) -> HeadState:
    repo = _open(slug)
    commit = _head_commit(repo)
    return HeadState(code=_file_in(commit, filename), commit=str(commit.id), branch=BRANCH)


def read_file_at(slug: str, filename: str, commit: str) -> str:
    repo = _open(slug)
    try:
        found = repo.revparse_single(commit)
    except (KeyError, ValueError) as exc:
        raise GitError(f"No commit {commit!r} in the repository.") from exc
    if not isinstance(found, pygit2.Commit):
        raise GitError(f"{commit!r} is not a commit.")
    return _file_in(found, filename)


def commit_file(
    slug: str,
    filename: str,
    content: str,
    message: str,
    author_name: str,
    author_email: str,
    expected_parent: str | None = None,
) -> str:
    """Commit new content of `filename` on main; returns the new sha.

    With `expected_parent`, refuses (HeadMovedError) unless HEAD is that commit: the
    check and the ref update happen under one lock, and libgit2 also refuses to move
    the branch when its tip is not the new commit's parent.
    """
    check_file_name(filename)
    with _locks[slug]:
        repo = _open(slug)
        head = _head_commit(repo)
        if expected_parent is not None and str(head.id) != expected_parent:
            raise HeadMovedError(
                f"HEAD moved: it is {str(head.id)[:12]}, the change is based on "
                f"{expected_parent[:12]}."
            )
        tree = repo.TreeBuilder(head.tree)
        tree.insert(filename, repo.create_blob(content.encode()), pygit2.enums.FileMode.BLOB)
        signature = _signature(author_name, author_email)
        try:
            oid = repo.create_commit(
                BRANCH_REF, signature, signature, message, tree.write(), [head.id]
            )
        except pygit2.GitError as exc:
            raise HeadMovedError(f"HEAD moved while committing: {exc}") from exc
    return str(oid)


def reset_branch(slug: str, sha: str) -> None:
    """Point main back at `sha`: undoes a commit whose database row could not be saved."""
    with _locks[slug]:
        repo = _open(slug)
        repo.references[BRANCH_REF].set_target(pygit2.Oid(hex=sha))


def history(slug: str, limit: int = 100) -> list[CommitInfo]:
    """Commits on main, newest first."""
    repo = _open(slug)
    commits: list[CommitInfo] = []
    for commit in repo.walk(_head_commit(repo).id, pygit2.enums.SortMode.TIME):
        if len(commits) >= limit:
            break
        commits.append(
            CommitInfo(
                sha=str(commit.id),
                message=commit.message.strip(),
                author_name=commit.author.name,
                author_email=commit.author.email,
                committed_at=datetime.fromtimestamp(commit.commit_time, tz=UTC),
            )
        )
    return commits


def delete_repository(slug: str) -> None:
    path = repository_dir(slug)
    with _locks[slug]:
        shutil.rmtree(path, ignore_errors=True)
