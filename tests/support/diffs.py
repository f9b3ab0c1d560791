"""A diff awaiting review, made straight in the database, for tests that need one."""

from agents_app.patching.render import unified_diff
from projects.models import Project
from reviews.models import Diff
from sessions_app.services import get_or_create_session


def make_diff(project: Project, code: str) -> Diff:
    """A diff of the project's current code to `code`, in its global session (sync)."""
    session, _ = get_or_create_session(project, "global")
    return Diff.objects.create(
        session=session, project=project, base_commit=project.current_commit,
        diff_content=unified_diff(project.current_code, code, "workflow.py"), patched_code=code,
        vibecoder_prompt="p", evaluator_reasoning="ok", commit_message="m",
    )  # fmt: skip
