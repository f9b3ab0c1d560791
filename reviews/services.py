"""Human review of diffs: approve, reject (a new round starts), commit into git.

Every status change is a conditional UPDATE (`WHERE status = <expected>`) or runs
under row locks, so two people, or two tabs, can never both win: one commit lands
and the other gets a 409, and git and the rows always agree.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from projects.code import InvalidCode, validate_code
from projects.git import repository as git
from projects.models import Project
from projects.services import author_of, commit_project_code, reconcile
from reviews import provenance
from reviews.models import Diff
from reviews.reconcile import emit_committed
from reviews.signals import diff_committed
from sessions_app import story
from sessions_app.events import diff_status_event, emit, emit_sync
from sessions_app.models import ConversationMessage
from vibegrapher.lib.faults import crash_point

PENDING = (Diff.Status.EVALUATOR_APPROVED, Diff.Status.HUMAN_APPROVED)


class ReviewConflict(Exception):
    """The diff is not in a state that allows this step (answered with 409)."""


def owned_diffs(user: User) -> QuerySet[Diff]:
    return Diff.objects.filter(project__owner=user).select_related("project", "session")


@dataclass(frozen=True)
class Preview:
    original: str
    patched: str
    diff: str


def preview(diff: Diff) -> Preview:
    original = git.read_file_at(diff.project.slug, diff.project.main_file, diff.base_commit)
    return Preview(original=original, patched=diff.patched_code, diff=diff.diff_content)


def _move(diff_id: uuid.UUID, allowed: tuple[str, ...], **changes: object) -> bool:
    """Change the diff only if its status is still one of `allowed`."""
    updated = Diff.objects.filter(id=diff_id, status__in=allowed).update(
        updated_at=timezone.now(), **changes
    )
    return bool(updated)


def _conflict(diff_id: uuid.UUID, wanted: str) -> ReviewConflict:
    status = Diff.objects.filter(id=diff_id).values_list("status", flat=True).first()
    return ReviewConflict(f"The diff is {status}; it cannot be {wanted}.")


def approve(diff: Diff) -> Diff:
    if not _move(diff.id, (Diff.Status.EVALUATOR_APPROVED,), status=Diff.Status.HUMAN_APPROVED):
        raise _conflict(diff.id, "approved")
    emit_sync(diff.project_id, diff_status_event(diff.id, Diff.Status.HUMAN_APPROVED))
    story.record_action(diff.project_id, diff.session_id, diff.id, "approved", diff.commit_message)
    return Diff.objects.select_related("project", "session").get(id=diff.id)


# Starts the round that answers a rejection (the diff, the feedback); gives the stored
# feedback message. agents_app's review view passes the run that does it.
StartRound = Callable[[Diff, str], Awaitable[ConversationMessage]]


async def reject(diff: Diff, feedback: str, start_round: StartRound) -> ConversationMessage:
    """Mark the diff rejected and start the next round with the feedback.

    If the round cannot start (`start_round` raises: a run is going, no model
    configured), the diff goes back to what it was: nothing is left half-done.
    """
    before = diff.status
    moved = await sync_to_async(_move)(
        diff.id, PENDING, status=Diff.Status.HUMAN_REJECTED, human_feedback=feedback
    )
    if not moved:
        raise await sync_to_async(_conflict)(diff.id, "rejected")
    # Stored before the run's first message (the feedback), emitted once the run started.
    rejected = await sync_to_async(story.store_action)(
        diff.session_id, diff.id, "rejected", diff.commit_message
    )
    try:
        message = await start_round(diff, feedback)
    except BaseException:
        await sync_to_async(rejected.delete)()
        await sync_to_async(_move)(
            diff.id,
            (Diff.Status.HUMAN_REJECTED,),
            status=before,
            human_feedback=diff.human_feedback,
        )
        raise
    await emit(diff.project_id, diff_status_event(diff.id, Diff.Status.HUMAN_REJECTED))
    await emit(diff.project_id, story.message_event(rejected, diff.project_id))
    return message


def commit(diff_id: uuid.UUID, user: User, message: str | None = None) -> Diff:
    """Commit an approved diff on its project's branch; 409 unless HEAD is its base.

    Locks the project's row, then the diff's (the order `reconcile` takes them too),
    moves the branch (the commit names the diff in its trailer), then saves both rows
    in the same transaction. A crash after the branch moved is mended by `reconcile`:
    git is the record, and the rows follow it.
    """
    author_name, author_email = author_of(user)
    project_id = Diff.objects.values_list("project_id", flat=True).get(id=diff_id)
    # A commit left in git by a crash is recorded first (this diff's, or another's).
    reconcile(project_id)
    with transaction.atomic():
        Project.objects.select_for_update().filter(id=project_id).first()
        diff = Diff.objects.select_for_update().select_related("project", "session").get(id=diff_id)
        if diff.status != Diff.Status.HUMAN_APPROVED:
            raise ReviewConflict(
                f"The diff is {diff.status}; only a human_approved diff can be committed."
            )
        try:
            # Runs refuse such patches; this catches diffs stored before, or by hand.
            validate_code(diff.patched_code, f"The patched {diff.project.main_file}")
        except InvalidCode as exc:
            raise ReviewConflict(
                f"{exc} Reject this diff with feedback to get one that fits."
            ) from None
        text = (message or diff.commit_message).strip() or "Update agents"
        try:
            project = commit_project_code(
                diff.project_id, diff.patched_code, text, author_name, author_email,
                expected_parent=diff.base_commit, diff_id=diff.id,
                extra_trailers=provenance.commit_trailers(diff),
            )  # fmt: skip
        except git.HeadMovedError as exc:
            raise ReviewConflict(
                f"{exc} Reject this diff with feedback to get one against the current code."
            ) from None
        crash_point("commit:after-project-row")
        diff.status = Diff.Status.COMMITTED
        diff.committed_sha = project.current_commit
        diff.commit_message = text
        try:
            diff.save(update_fields=["status", "committed_sha", "commit_message", "updated_at"])
        except BaseException:
            git.reset_branch(project.slug, diff.base_commit, undoing=project.current_commit)
            raise
        crash_point("commit:after-diff-row")
        transaction.on_commit(lambda: _after_commit(diff, project.current_code))
    return diff


def _after_commit(diff: Diff, new_code: str) -> None:
    crash_point("commit:after-transaction")
    # Before `code_changed`, on which open project pages reload: they show it stored.
    story.record_action(
        diff.project_id, diff.session_id, diff.id, "committed", diff.commit_message,
        diff.committed_sha,
    )  # fmt: skip
    emit_committed(diff.project_id, new_code, diff.committed_sha, [diff.id])
    # agents_app starts the Evaluator fresh on the next change.
    diff_committed.send(sender=Diff, diff=diff)
