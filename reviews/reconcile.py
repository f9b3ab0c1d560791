"""Diffs follow git: a commit found on a project's branch marks its diff committed.

`projects.services.reconcile` sends `head_advanced` when HEAD was ahead of the
project's row (the process died between the branch move and the rows' update); the
receiver here marks each diff named by a commit's trailer as committed, and sends
the events a live commit sends. Connected in `ReviewsConfig.ready`.
"""

import logging
import uuid
from typing import Any

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from projects.git import repository as git
from projects.models import Project
from projects.services import head_advanced
from reviews.models import Diff
from sessions_app.events import code_changed_event, diff_status_event, emit_sync

logger = logging.getLogger(__name__)


def emit_committed(
    project_id: uuid.UUID, new_code: str, sha: str, diff_ids: list[uuid.UUID]
) -> None:
    """The events of a commit; best-effort (the rows are the truth, a reload shows them)."""
    try:
        emit_sync(project_id, code_changed_event(project_id, new_code, sha))
        for diff_id in diff_ids:
            emit_sync(project_id, diff_status_event(diff_id, Diff.Status.COMMITTED))
    except Exception:
        logger.exception("project %s: the commit's events could not be sent", project_id)


@receiver(head_advanced, sender=Project)
def record_commits_found_in_git(
    sender: type[Project], project: Project, commits: list[git.FoundCommit], **kwargs: Any
) -> None:
    """HEAD was ahead of the row (a crash after the branch moved): the diffs follow git.

    Runs inside `reconcile`'s transaction, which holds the project's row lock.
    """
    committed: list[uuid.UUID] = []
    for found in commits:
        if found.diff_id is None:
            continue
        updated = (
            Diff.objects.filter(id=found.diff_id, project_id=project.id, base_commit=found.parent)
            .exclude(status=Diff.Status.COMMITTED)
            .update(
                status=Diff.Status.COMMITTED,
                committed_sha=found.sha,
                commit_message=found.message[:500],
                updated_at=timezone.now(),
            )
        )
        if updated:
            committed.append(found.diff_id)
            logger.warning(
                "diff %s: found committed in git as %s; recorded", found.diff_id, found.sha[:12]
            )
    project_id, code, sha = project.id, project.current_code, project.current_commit
    transaction.on_commit(lambda: emit_committed(project_id, code, sha, committed))
