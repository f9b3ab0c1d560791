"""Projects: a row and a git repository that never disagree.

Git is the record of commits; the row follows it. A commit moves the branch first and
updates the rows after, in one transaction that holds the project's row lock; a crash
in between leaves git ahead, and `reconcile` brings the rows forward (at start-up and
whenever a mismatch is seen), tracing each commit to its diff by its trailer.
"""

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.http import Http404
from django.utils.text import slugify

from projects.git import repository as git
from projects.git import trailers
from projects.models import Project
from projects.sample_workflow import STARTER_CODE
from projects.storage import conversations_db, projects_root, repository_dir

logger = logging.getLogger(__name__)

INITIAL_COMMIT_MESSAGE = "Initial agent code"
# New projects' file. Not agents.py: run from its folder, that name would shadow the
# SDK's `agents` package. Existing projects keep their `main_file`.
MAIN_FILE = "workflow.py"
MAX_SLUG_ATTEMPTS = 50

# Sent inside the reconciling transaction when HEAD was ahead of the project's row:
# `project` (already moved to HEAD) and `commits` (list[git.FoundCommit], oldest first).
# The reviews app marks the named diffs committed and emits the events.
head_advanced = Signal()


# Another user's project is no different from none: both get this 404.
NO_SUCH_PROJECT = "No such project."


def get_owned_project(user: User, project_id: uuid.UUID | str) -> Project:
    """The user's project, or 404 (another user's project is no different from none)."""
    try:
        project = Project.objects.get(id=project_id, owner=user)
    except (Project.DoesNotExist, ValueError, TypeError):
        raise Http404(NO_SUCH_PROJECT) from None
    # The owner is `user`: no second query when the API shows it.
    project.owner = user
    return project


def author_of(user: User) -> tuple[str, str]:
    """Name and email for commits made on the user's behalf."""
    name = user.get_full_name() or user.get_username()
    return name, user.email or f"{user.get_username()}@vibegrapher.local"


MAX_NAME_CHARS = 100
_SLUG_WORD = re.compile(r"[a-z0-9]+")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidName(ValueError):
    """A project name that cannot be stored; the message says why."""


def check_project_name(name: str) -> None:
    """Raise InvalidName unless `name` (already trimmed) can name a project: 1 to 100
    characters, none of them NUL or a lone surrogate (neither can be stored)."""
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidName(f"A project needs a name of 1 to {MAX_NAME_CHARS} characters.")
    if "\x00" in name:
        raise InvalidName("A project name cannot contain NUL characters.")
    surrogate = _LONE_SURROGATE.search(name)
    if surrogate is not None:
        raise InvalidName(
            f"The name has a lone surrogate at position {surrogate.start()} (half of a "
            "UTF-16 pair, not a character); send the character itself."
        )


def slug_base(name: str) -> str:
    """The slug a name starts from: its letters and digits in ASCII (accents dropped, as
    Django's `slugify` does), lowercase, with one hyphen for each run of anything else
    (`my_project`, `My  Project!` and `my-project` all give `my-project`); `project` when
    nothing is left (a name in another script, emoji, punctuation only). Always matches
    the storage's slug pattern."""
    words = _SLUG_WORD.findall(slugify(name).lower())
    return "-".join(words)[:MAX_NAME_CHARS].strip("-") or "project"


def _free_slug(base: str) -> str:
    taken = set(
        Project.objects.filter(slug__regex=rf"^{base}(-[0-9]+)?$").values_list("slug", flat=True)
    )
    for n in range(1, MAX_SLUG_ATTEMPTS + 1):
        slug = base if n == 1 else f"{base}-{n}"
        if slug not in taken and not git.repository_exists(slug):
            return slug
    return f"{base}-{uuid.uuid4().hex[:8]}"


def create_project(owner: User, name: str, code: str | None = None) -> Project:
    """Create the repository (initial commit of `workflow.py`), then the row.

    The repository is built under a private temporary name, then, in the transaction
    that inserts the row, renamed to its slug's path. A slug taken by a concurrent
    request (the unique constraint, or a directory already there) moves on to the
    next slug; a request never touches another project's files. A failed step leaves
    neither a row nor a repository. A name `check_project_name` refuses is InvalidName,
    before anything is made.
    """
    check_project_name(name)
    code = STARTER_CODE if code is None else code
    author_name, author_email = author_of(owner)
    staged, sha = git.stage_repository(
        MAIN_FILE, code, INITIAL_COMMIT_MESSAGE, author_name, author_email
    )
    try:
        base = slug_base(name)
        for attempt in range(MAX_SLUG_ATTEMPTS + 1):
            slug = _free_slug(base) if attempt < MAX_SLUG_ATTEMPTS else _random_slug(base)
            project = _insert_and_place(owner, name, slug, code, sha, staged)
            if project is not None:
                return project
    finally:
        git.discard_staged(staged)  # a no-op once the repository was moved into place
    raise git.GitError("Could not find a free slug for the project; try another name.")


def _random_slug(base: str) -> str:
    return f"{base[:90]}-{uuid.uuid4().hex[:8]}"


def _insert_and_place(
    owner: User, name: str, slug: str, code: str, sha: str, staged: Path
) -> Project | None:
    """The project under `slug` with its repository in place, or None if the slug is taken."""
    placed = False
    try:
        with transaction.atomic():
            project = Project.objects.create(
                name=name,
                slug=slug,
                owner=owner,
                repository_path=str(repository_dir(slug).relative_to(projects_root().parent)),
                main_file=MAIN_FILE,
                current_code=code,
                current_commit=sha,
                current_branch=git.BRANCH,
            )
            git.place_repository(staged, slug)
            placed = True
        return project
    except git.RepositoryExists:
        return None  # a directory is there (another project, or one left by a crash)
    except IntegrityError:
        if placed:
            git.unplace_repository(slug, staged)
        if Project.objects.filter(slug=slug).exists():
            return None  # another request took the slug between our check and insert
        raise
    except BaseException:
        if placed:
            git.unplace_repository(slug, staged)
        raise


def delete_project(project: Project) -> None:
    """The row (and its sessions, diffs, tests) and the repository.

    The agents' memory goes with the row: agents_app deletes it on `post_delete`.
    """
    slug = project.slug
    with transaction.atomic():
        project.delete()
        transaction.on_commit(lambda: _remove_files(slug))


def _remove_files(slug: str) -> None:
    git.delete_repository(slug)
    for path in (conversations_db(slug),):
        for candidate in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            candidate.unlink(missing_ok=True)


def commit_project_code(
    project_id: uuid.UUID,
    new_code: str,
    message: str,
    author_name: str,
    author_email: str,
    expected_parent: str,
    diff_id: uuid.UUID | None = None,
    extra_trailers: Sequence[tuple[str, str]] = (),
) -> Project:
    """Commit `new_code` on the project's branch if HEAD is still `expected_parent`.

    Call inside a transaction that also records the outcome (the diff): the project
    row is locked from before the branch moves until that transaction ends, so two
    commits on the same base give one commit and one HeadMovedError, and a reader
    that takes the lock (`reconcile`) never sees git ahead of a live commit. With
    `diff_id`, the commit carries the diff's trailer, so a crash after the branch
    moved is mended by `reconcile`. `extra_trailers` follow the diff's (how the change
    was made: `reviews.provenance`).
    """
    if diff_id is not None:
        message = trailers.with_trailers(
            message, [(git.DIFF_TRAILER, str(diff_id)), *extra_trailers]
        )
    with transaction.atomic():
        project = Project.objects.select_for_update().get(id=project_id)
        if project.current_commit != expected_parent:
            raise git.HeadMovedError(
                f"HEAD moved: it is {project.current_commit[:12]}, the change is based on "
                f"{expected_parent[:12]}."
            )
        sha = git.commit_file(
            project.slug,
            project.main_file,
            new_code,
            message,
            author_name,
            author_email,
            expected_parent=expected_parent,
        )
        project.current_code = new_code
        project.current_commit = sha
        try:
            project.save(update_fields=["current_code", "current_commit", "updated_at"])
        except BaseException:
            # The row could not follow: put the branch back where the row says it is.
            git.reset_branch(project.slug, expected_parent, undoing=sha)
            raise
    return project


@dataclass(frozen=True)
class Reconciled:
    project: Project
    moved: bool
    commits: list[git.FoundCommit]


def reconcile(project_id: uuid.UUID | str) -> Project:
    """The project's row brought forward to HEAD, if git is ahead of it.

    Git is the record: a commit whose rows were not saved (the process died between
    the branch move and the transaction's end) is taken as made. The rows follow HEAD
    and each commit's diff (named by its trailer) is marked committed, with the events,
    by the receivers of `head_advanced`. Cheap when nothing is to be done.
    """
    return _reconcile(project_id).project


def _reconcile(project_id: uuid.UUID | str) -> Reconciled:
    project = Project.objects.get(id=project_id)
    if _head_or_none(project) in (None, project.current_commit):
        return Reconciled(project, False, [])
    with transaction.atomic():
        # The row lock waits for a commit in flight (it holds it until its rows are
        # saved), so what is read below is never a commit that is about to be recorded.
        project = Project.objects.select_for_update().get(id=project_id)
        head = git.read_head(project.slug, project.main_file)
        if head.commit == project.current_commit:
            return Reconciled(project, False, [])
        commits = git.commits_since(project.slug, project.current_commit)
        if commits is None:
            # Not a descendant (the branch was reset or rewritten by hand): git is
            # still the record, so the row follows HEAD; no diff is marked.
            logger.warning(
                "project %s: HEAD %s is not a descendant of the row's commit %s; "
                "the row follows HEAD",
                project.id,
                head.commit[:12],
                project.current_commit[:12],
            )
            commits = []
        else:
            logger.warning(
                "project %s: HEAD %s is %d commit(s) ahead of the row; the row follows it",
                project.id,
                head.commit[:12],
                len(commits),
            )
        project.current_code = head.code
        project.current_commit = head.commit
        project.current_branch = head.branch
        project.save(update_fields=["current_code", "current_commit", "current_branch",
                                    "updated_at"])  # fmt: skip
        head_advanced.send(sender=Project, project=project, commits=commits)
    return Reconciled(project, True, commits)


def _head_or_none(project: Project) -> str | None:
    try:
        return git.read_head(project.slug, project.main_file).commit
    except git.GitError as exc:
        logger.warning("project %s: cannot read HEAD: %s", project.id, exc)
        return None


def reconcile_all() -> int:
    """Reconcile every project (at start-up); returns how many rows were brought forward."""
    git.discard_stale_staging()
    moved = 0
    for project_id in Project.objects.values_list("id", flat=True).iterator():
        try:
            moved += _reconcile(project_id).moved
        except Exception:
            logger.exception("project %s: reconciliation failed", project_id)
    return moved
