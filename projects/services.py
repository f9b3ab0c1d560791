"""Projects: a row and a git repository that never disagree."""

import uuid

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils.text import slugify

from agents_app.memory import delete_project_memory
from projects import git
from projects.models import Project
from projects.sample_workflow import STARTER_CODE
from projects.storage import conversations_db, projects_root, repository_dir

INITIAL_COMMIT_MESSAGE = "Initial agent code"
# New projects' file. Not agents.py: run from its folder, that name would shadow the
# SDK's `agents` package. Existing projects keep their `main_file`.
MAIN_FILE = "workflow.py"
MAX_SLUG_ATTEMPTS = 50


def get_owned_project(user: User, project_id: uuid.UUID | str) -> Project:
    """The user's project, or 404 (another user's project is no different from none)."""
    try:
        return Project.objects.get(id=project_id, owner=user)
    except (Project.DoesNotExist, ValueError, TypeError):
        raise Http404("No such project.") from None


def author_of(user: User) -> tuple[str, str]:
    """Name and email for commits made on the user's behalf."""
    name = user.get_full_name() or user.get_username()
    return name, user.email or f"{user.get_username()}@vibegrapher.local"


def _base_slug(name: str) -> str:
    return (slugify(name)[:100].strip("-") or "project").lower()


def _free_slug(base: str) -> str:
    taken = set(
        Project.objects.filter(slug__regex=rf"^{base}(-[0-9]+)?$").values_list("slug", flat=True)
    )
    for n in range(1, MAX_SLUG_ATTEMPTS + 1):
        slug = base if n == 1 else f"{base}-{n}"
        if slug not in taken and not repository_dir(slug).exists():
            return slug
    return f"{base}-{uuid.uuid4().hex[:8]}"


def create_project(owner: User, name: str, code: str | None = None) -> Project:
    """Create the repository (initial commit of `workflow.py`), then the row.

    A failed repository step leaves no row; a failed row removes the repository.
    """
    code = STARTER_CODE if code is None else code
    author_name, author_email = author_of(owner)
    for _ in range(3):
        slug = _free_slug(_base_slug(name))
        sha = git.create_repository(
            slug, MAIN_FILE, code, INITIAL_COMMIT_MESSAGE, author_name, author_email
        )
        try:
            with transaction.atomic():
                return Project.objects.create(
                    name=name,
                    slug=slug,
                    owner=owner,
                    repository_path=str(repository_dir(slug).relative_to(projects_root().parent)),
                    main_file=MAIN_FILE,
                    current_code=code,
                    current_commit=sha,
                    current_branch=git.BRANCH,
                )
        except IntegrityError:
            # Another request took the slug between our check and insert: try the next.
            git.delete_repository(slug)
        except BaseException:
            git.delete_repository(slug)
            raise
    raise git.GitError("Could not find a free slug for the project; try another name.")


def delete_project(project: Project) -> None:
    """The row (and its sessions, diffs, tests), the repository and the agents' memory."""
    slug = project.slug
    with transaction.atomic():
        project.delete()
        delete_project_memory(slug)
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
) -> Project:
    """Commit `new_code` on the project's branch if HEAD is still `expected_parent`.

    The project row is locked for the whole step, so two commits on the same base
    give one commit and one HeadMovedError, and the row always matches HEAD.
    """
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
            git.reset_branch(project.slug, expected_parent)
            raise
    return project
