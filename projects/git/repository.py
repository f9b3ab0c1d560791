"""Each project's own git repository, through pygit2.

Repositories are bare (no work tree to drift from HEAD); the file names in them are
plain top-level names. `GIT_STORAGE` says where they live: `filesystem` at
`MEDIA_ROOT/projects/<slug>`, or `database` (objects and refs in `GitObject`/`GitRef`
rows, see `projects.git.storage`; a branch moves by compare-and-swap in the caller's
transaction). Either way the same pygit2 code below reads and writes them. All
functions are synchronous: async callers run them in a thread.

A commit made for a diff carries the trailer `Vibegrapher-Diff: <diff id>`: git is the
record of commits, and the trailer is how a commit found in git (after a crash between
the ref move and the database update) is traced back to its diff.
"""

import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2
from django.conf import settings
from django.db import DatabaseError, transaction

from projects.git import storage, trailers
from projects.storage import check_file_name, projects_root, repository_dir
from vibegrapher.lib.faults import crash_point

logger = logging.getLogger(__name__)

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


DIFF_TRAILER = "Vibegrapher-Diff"
_TRAILER_LINE = re.compile(rf"^{DIFF_TRAILER}: *([0-9a-fA-F-]{{36}}) *$", re.MULTILINE)


def with_diff_trailer(message: str, diff_id: uuid.UUID | str) -> str:
    """The commit message of a diff's commit: the text, a blank line, the trailer."""
    return f"{message.rstrip()}\n\n{DIFF_TRAILER}: {diff_id}\n"


def split_diff_trailer(message: str) -> tuple[str, uuid.UUID | None]:
    """A commit message without its trailers, and the diff id it names (if any)."""
    body, pairs = trailers.split(message)
    named = trailers.as_dict(pairs).get(DIFF_TRAILER)
    if named is not None:
        try:
            return body, uuid.UUID(named)
        except ValueError:
            return body, None
    found = _TRAILER_LINE.search(message)
    if found is None:
        return message.strip(), None
    text = (message[: found.start()] + message[found.end() :]).strip()
    try:
        return text, uuid.UUID(found.group(1))
    except ValueError:
        return text, None


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    author_name: str
    author_email: str
    committed_at: datetime
    # The message's git trailers ("Key", "value"), in order (`projects.git.trailers`).
    trailers: tuple[tuple[str, str], ...] = ()


def _in_database() -> bool:
    return bool(settings.GIT_STORAGE == "database")


def _open(slug: str) -> pygit2.Repository:
    if _in_database():
        repository_dir(slug)  # the same check of the slug as on the filesystem
        stored = storage.open_repository(slug, BRANCH_REF)
        if stored is None:
            raise GitError(f"No repository for project {slug!r}.")
        return stored
    path = repository_dir(slug)
    if not path.is_dir():
        raise GitError(f"No repository for project {slug!r}.")
    try:
        return pygit2.Repository(str(path))
    except pygit2.GitError as exc:
        raise GitError(f"Cannot open the repository of {slug!r}: {exc}") from exc


def _signature(name: str, email: str) -> pygit2.Signature:
    return pygit2.Signature(name or "Vibegrapher", email or "vibegrapher@localhost")


def _committer() -> pygit2.Signature:
    """The fixed committer of every commit; the person is the author."""
    return _signature(settings.COMMITTER_NAME, settings.COMMITTER_EMAIL)


def create_repository(
    slug: str, filename: str, content: str, message: str, author_name: str, author_email: str
) -> str:
    """A new repository whose first commit on `main` holds `filename`; returns its sha."""
    staged, sha = stage_repository(filename, content, message, author_name, author_email)
    try:
        place_repository(staged, slug)
    except BaseException:
        discard_staged(staged)
        raise
    return sha


class RepositoryExists(GitError):
    """Something already sits at the repository path of the slug."""


def stage_repository(
    filename: str, content: str, message: str, author_name: str, author_email: str
) -> tuple[Path, str]:
    """A new repository under a private temporary name; returns its path and first sha.

    The name is unique to this call, so two creations never write into one directory;
    `place_repository` then moves it to its slug's path in one rename.
    """
    check_file_name(filename)
    root = projects_root()
    root.mkdir(parents=True, exist_ok=True)
    path = root / f".staging-{uuid.uuid4().hex}"
    try:
        repo = pygit2.init_repository(str(path), bare=True, initial_head=BRANCH)
        tree = repo.TreeBuilder()
        tree.insert(filename, repo.create_blob(content.encode()), pygit2.enums.FileMode.BLOB)
        signature = _signature(author_name, author_email)
        oid = repo.create_commit(BRANCH_REF, signature, _committer(), message, tree.write(), [])
    except (pygit2.GitError, OSError) as exc:
        shutil.rmtree(path, ignore_errors=True)
        raise GitError(f"Cannot create a repository: {exc}") from exc
    return path, str(oid)


def repository_exists(slug: str) -> bool:
    """Whether anything holds the slug's repository (a project's, or one left by a crash)."""
    if _in_database():
        return storage.repository_exists(slug)
    path = repository_dir(slug)
    return path.exists() or path.is_symlink()


def place_repository(staged: Path, slug: str) -> None:
    """Move a staged repository to the slug's path; RepositoryExists if anything is there.

    Never replaces or removes what is there: a losing request leaves the winner alone.
    With the database store, the staged objects and branch are copied into the rows of
    the slug, in the caller's transaction (the staged directory is then discarded).
    """
    if _in_database():
        repository_dir(slug)
        if storage.repository_exists(slug):
            raise RepositoryExists(f"A repository for {slug!r} already exists in the database.")
        try:
            with transaction.atomic():
                storage.store_repository(slug, staged, BRANCH_REF, create=True)
        except storage.RefMoved as exc:
            raise RepositoryExists(f"The repository of {slug!r} was taken.") from exc
        return
    target = repository_dir(slug)
    if target.exists() or target.is_symlink():
        raise RepositoryExists(f"Something already exists at the repository path of {slug!r}.")
    try:
        # rename(2) would replace an empty directory made in between; a non-empty one
        # (another project's repository) makes it fail, and nothing is touched.
        os.rename(staged, target)
    except OSError as exc:
        if target.exists():
            raise RepositoryExists(f"The repository path of {slug!r} was taken.") from exc
        raise GitError(f"Cannot move the repository of {slug!r} into place: {exc}") from exc


def unplace_repository(slug: str, staged: Path) -> None:
    """Undo `place_repository`: the row that claimed the slug was not saved."""
    if _in_database():
        return  # the rows were written in that row's transaction, rolled back with it
    os.rename(repository_dir(slug), staged)


def discard_staged(staged: Path) -> None:
    if staged.name.startswith(".staging-") and staged.parent == projects_root():
        shutil.rmtree(staged, ignore_errors=True)


def discard_stale_staging(older_than_seconds: float = 3600) -> int:
    """Remove staged repositories left by a process that died while creating a project.

    A creation stages and places its repository within one request, so an hour-old
    staging directory belongs to nobody.
    """
    root = projects_root()
    if not root.is_dir():
        return 0
    cutoff = time.time() - older_than_seconds
    stale = [p for p in root.glob(".staging-*") if p.stat().st_mtime < cutoff]
    for path in stale:
        discard_staged(path)
    return len(stale)


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
        crash_point("commit:before-ref-move")
        if not _in_database():
            _break_stale_ref_lock(slug)
        try:
            oid = repo.create_commit(
                BRANCH_REF, signature, _committer(), message, tree.write(), [head.id]
            )
        except pygit2.GitError as exc:
            raise HeadMovedError(f"HEAD moved while committing: {exc}") from exc
        crash_point("commit:after-ref-move")
    return str(oid)


def _break_stale_ref_lock(slug: str) -> None:
    """Remove the branch's lock file left by a process killed while it held it.

    Every caller of `commit_file` holds the project's row lock (see
    `projects.services.commit_project_code`), so no live process can be moving this
    branch now: a lock file is a dead one's, and would refuse every commit forever.
    """
    lock = repository_dir(slug) / "refs" / "heads" / f"{BRANCH}.lock"
    if lock.exists():
        logger.warning("repository %s: removing a stale ref lock %s", slug, lock)
        lock.unlink(missing_ok=True)


@dataclass(frozen=True)
class FoundCommit:
    """A commit on main that the database does not know yet, oldest first."""

    sha: str
    parent: str
    message: str
    diff_id: uuid.UUID | None


def commits_since(slug: str, ancestor: str, limit: int = 1000) -> list[FoundCommit] | None:
    """The first-parent chain from HEAD back to `ancestor`, oldest first.

    None when `ancestor` is not on that chain (HEAD is not a descendant of it).
    """
    repo = _open(slug)
    commit = _head_commit(repo)
    found: list[FoundCommit] = []
    while str(commit.id) != ancestor:
        if not commit.parents or len(found) >= limit:
            return None
        parent = commit.parents[0]
        text, diff_id = split_diff_trailer(commit.message)
        found.append(FoundCommit(str(commit.id), str(parent.id), text, diff_id))
        commit = parent
    found.reverse()
    return found


def reset_branch(slug: str, sha: str, undoing: str) -> None:
    """Point main back at `sha` if it is still at `undoing`.

    Undoes a commit whose database rows failed to save with an error (a crash instead
    is mended by reconciliation: the rows follow git).
    """
    if _in_database():
        _reset_stored_branch(slug, sha, undoing)
        return
    with _locks[slug]:
        repo = _open(slug)
        ref = repo.references[BRANCH_REF]
        if str(ref.target) == undoing:
            ref.set_target(pygit2.Oid(hex=sha))


def _reset_stored_branch(slug: str, sha: str, undoing: str) -> None:
    connection = transaction.get_connection()
    try:
        with transaction.atomic():
            storage.move_ref(slug, BRANCH_REF, undoing, sha)
    except storage.RefMoved:
        pass
    except DatabaseError:
        # The caller's transaction failed (that is why it undoes the commit): the ref
        # moved inside it, and its rollback puts the ref back with everything else.
        if not connection.in_atomic_block:
            raise


class UnknownCommit(GitError):
    """`history(after=…)` names no commit of the branch."""


def history(slug: str, limit: int = 100, after: str | None = None) -> list[CommitInfo]:
    """Commits on main, newest first; with `after` (a sha), those that follow it."""
    repo = _open(slug)
    commits: list[CommitInfo] = []
    skipping = after is not None
    for commit in repo.walk(_head_commit(repo).id, pygit2.enums.SortMode.TIME):
        if skipping:
            skipping = str(commit.id) != after
            continue
        if len(commits) >= limit:
            break
        body, pairs = trailers.split(commit.message)
        commits.append(
            CommitInfo(
                sha=str(commit.id),
                message=body,
                author_name=commit.author.name,
                author_email=commit.author.email,
                committed_at=datetime.fromtimestamp(commit.commit_time, tz=UTC),
                trailers=tuple(pairs),
            )
        )
    if skipping:
        raise UnknownCommit(f"{after!r} is not a commit of the project's history.")
    return commits


def delete_repository(slug: str) -> None:
    if _in_database():
        repository_dir(slug)
        with transaction.atomic():
            storage.delete_repository(slug)
        return
    path = repository_dir(slug)
    with _locks[slug]:
        shutil.rmtree(path, ignore_errors=True)


GIT_BINARY = "/usr/bin/git"


def export_bundle(slug: str, target: Path) -> None:
    """Write the repository as a git bundle at `target` (`git clone target` gives it back).

    The database store is first written out to a temporary bare repository; `git bundle`
    then reads either store's copy the same way.
    """
    with tempfile.TemporaryDirectory(prefix="vibegrapher-export-") as scratch:
        if _in_database():
            _open(slug)  # GitError if there is no such repository
            source = Path(scratch) / "repository.git"
            storage.write_to_directory(slug, source, BRANCH_REF)
        else:
            source = repository_dir(slug)
            _open(slug)
        result = subprocess.run(
            [GIT_BINARY, "-C", str(source), "bundle", "create", str(target), "HEAD", BRANCH_REF],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1", "HOME": scratch},
        )
        if result.returncode != 0:
            raise GitError(f"Cannot bundle the repository of {slug!r}: {result.stderr.strip()}")


@dataclass(frozen=True)
class MovedRepository:
    slug: str
    objects_written: int
    commits_verified: int
    already_there: bool


def move_repository(slug: str, to: str) -> MovedRepository:
    """Copy the slug's repository from one store to the other, then verify the copy.

    `to` is "database" or "filesystem". Idempotent: objects already in the target are
    kept, and a target whose branch is already at the source's tip is only verified. A
    target whose branch is elsewhere is refused (it was committed to after a move).
    Verification walks every commit of the source's branch and checks the target has
    the same commit with the same tree, every blob of which reads back to its id.
    Call with the project's row locked, so no commit lands meanwhile.
    """
    repository_dir(slug)
    disk_path = repository_dir(slug)
    if to == "database":
        source = _open_directory(disk_path, slug)
        tip = str(_head_commit(source).id)
        stored = storage.read_ref(slug, BRANCH_REF)
        if stored is not None and stored != tip:
            raise GitError(
                f"{slug}: the database's branch is at {stored[:12]}, the directory's at "
                f"{tip[:12]}; not overwriting it."
            )
        with transaction.atomic():
            written = storage.store_repository(slug, disk_path, BRANCH_REF)
        target = _stored(slug, use_cache=False)
    elif to == "filesystem":
        stored = storage.read_ref(slug, BRANCH_REF)
        if stored is None:
            raise GitError(f"{slug}: no repository in the database.")
        source = _stored(slug, use_cache=False)
        tip = stored
        written = 0
        if disk_path.exists():
            on_disk = str(_head_commit(_open_directory(disk_path, slug)).id)
            if on_disk != tip:
                raise GitError(
                    f"{slug}: the directory's branch is at {on_disk[:12]}, the database's "
                    f"at {tip[:12]}; not overwriting it."
                )
        else:
            root = projects_root()
            root.mkdir(parents=True, exist_ok=True)
            staged = root / f".staging-{uuid.uuid4().hex}"
            try:
                storage.write_to_directory(slug, staged, BRANCH_REF)
                written = len(list(_open_directory(staged, slug).odb))
                place_repository_directory(staged, slug)
            finally:
                shutil.rmtree(staged, ignore_errors=True)
        target = _open_directory(disk_path, slug)
    else:
        raise ValueError(f"Unknown store {to!r}: database or filesystem.")
    verified = _verify_copy(slug, source, target, tip)
    return MovedRepository(slug, written, verified, already_there=stored == tip)


def _stored(slug: str, use_cache: bool) -> pygit2.Repository:
    stored = storage.open_repository(slug, BRANCH_REF, use_cache=use_cache)
    if stored is None:
        raise GitError(f"{slug}: no repository in the database.")
    return stored


def _open_directory(path: Path, slug: str) -> pygit2.Repository:
    if not path.is_dir():
        raise GitError(f"{slug}: no repository at {path}.")
    try:
        return pygit2.Repository(str(path))
    except pygit2.GitError as exc:
        raise GitError(f"{slug}: cannot open {path}: {exc}") from exc


def place_repository_directory(staged: Path, slug: str) -> None:
    """`place_repository` for the filesystem store, whatever GIT_STORAGE says."""
    target = repository_dir(slug)
    if target.exists() or target.is_symlink():
        raise RepositoryExists(f"Something already exists at the repository path of {slug!r}.")
    os.rename(staged, target)


def _verify_copy(slug: str, source: pygit2.Repository, target: pygit2.Repository, tip: str) -> int:
    """Every commit from `tip` in `source` is in `target` with the same, complete tree."""
    if str(_head_commit(target).id) != tip:
        raise GitError(f"{slug}: the copy's branch is not at {tip[:12]}.")
    checked_trees: set[str] = set()
    count = 0
    for commit in source.walk(pygit2.Oid(hex=tip), pygit2.enums.SortMode.TOPOLOGICAL):
        copy = target.get(commit.id)
        if not isinstance(copy, pygit2.Commit) or copy.tree_id != commit.tree_id:
            raise GitError(f"{slug}: commit {commit.id} differs in the copy.")
        _verify_tree(slug, source, target, str(commit.tree_id), checked_trees)
        count += 1
    return count


def _verify_tree(
    slug: str, source: pygit2.Repository, target: pygit2.Repository, tree_id: str, seen: set[str]
) -> None:
    if tree_id in seen:
        return
    seen.add(tree_id)
    tree = target.get(tree_id)
    original = source.get(tree_id)
    if not isinstance(tree, pygit2.Tree) or not isinstance(original, pygit2.Tree):
        raise GitError(f"{slug}: tree {tree_id} is missing from the copy.")
    entries = [(e.name, str(e.id), e.filemode) for e in tree]
    if entries != [(e.name, str(e.id), e.filemode) for e in original]:
        raise GitError(f"{slug}: tree {tree_id} differs in the copy.")
    for name, oid, _ in entries:
        found = target.get(oid)
        if isinstance(found, pygit2.Tree):
            _verify_tree(slug, source, target, oid, seen)
        elif not isinstance(found, pygit2.Blob) or str(pygit2.hash(found.data)) != oid:
            raise GitError(f"{slug}: {name} ({oid}) does not read back in the copy.")
