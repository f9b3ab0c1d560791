"""The conversation as a story: the person's own review actions, and how each run ended.

Stored in the conversation itself, so a reload shows them where they happened:
- an action (diff approved, rejected, committed as `abc1234`) is a `ConversationMessage`
  with role `event`, emitted as a `conversation_message` like any other message;
- a run's outcome is kept on the person's message that started the run
  (`run_outcome`), which is where the page draws the run's separator;
- a patch the server refused before review (`agents_app.refusals`) is a message with
  role `check`, in the round it happened, with why in `refusal`;
- a response cut off by a stopped, failed or interrupted run keeps what was streamed
  of it, marked `stopped`.

Events are never sent to a model: the agents' memory is the SDK's own session store.
"""

import uuid

from sessions_app.events import (
    ConversationMessageEvent,
    PatchRefusal,
    conversation_message_event,
    emit_sync,
)
from sessions_app.models import ConversationMessage, VibecodeSession

Outcome = ConversationMessage.RunOutcome


def message_event(message: ConversationMessage, project_id: uuid.UUID) -> ConversationMessageEvent:
    """The `conversation_message` event of a stored message (`project_id`: for callers
    that have it; the event itself names only the session)."""
    return conversation_message_event(
        message.id,
        message.session_id,
        message.role,
        message.agent,
        message.content,
        message.patch_preview or None,
        message.iteration,
        message.token_usage,
        message.created_at,
        action=message.action,
        diff_id=message.diff_id,
        refusal=message.refusal,
        stopped=message.stopped,
    )


def _quoted(commit_message: str) -> str:
    first = commit_message.strip().splitlines()[0] if commit_message.strip() else ""
    return f" “{first[:120]}”" if first else ""


def _action_text(action: str, commit_message: str, sha: str = "") -> str:
    quoted = _quoted(commit_message)
    if action == ConversationMessage.Action.APPROVED:
        return f"Approved the diff{quoted}."
    if action == ConversationMessage.Action.REJECTED:
        return f"Rejected the diff{quoted}; the feedback below starts the next run."
    return f"Committed the diff{quoted} as {sha[:7]}."


def store_action(
    session_id: uuid.UUID, diff_id: uuid.UUID, action: str, commit_message: str, sha: str = ""
) -> ConversationMessage:
    """Store one of the person's actions on a diff, in the diff's conversation."""
    return ConversationMessage.objects.create(
        session_id=session_id,
        role=ConversationMessage.Role.EVENT,
        agent=ConversationMessage.Agent.USER,
        action=action,
        content=_action_text(action, commit_message, sha),
        diff_id=diff_id,
    )


def record_action(
    project_id: uuid.UUID,
    session_id: uuid.UUID,
    diff_id: uuid.UUID,
    action: str,
    commit_message: str,
    sha: str = "",
) -> ConversationMessage:
    """Store the action and tell every open browser (sync code: views, on_commit)."""
    message = store_action(session_id, diff_id, action, commit_message, sha)
    emit_sync(project_id, message_event(message, project_id))
    return message


def store_refusal(
    session_id: uuid.UUID, iteration: int, text: str, refusal: PatchRefusal
) -> ConversationMessage:
    """Store a patch's refusal before review as a step of its round."""
    return ConversationMessage.objects.create(
        session_id=session_id,
        role=ConversationMessage.Role.CHECK,
        agent=ConversationMessage.Agent.SYSTEM,
        iteration=iteration,
        content=text,
        refusal=refusal,
    )


def store_stopped_response(
    session_id: uuid.UUID,
    message_id: uuid.UUID,
    agent: str,
    iteration: int | None,
    shown: dict[str, str],
) -> ConversationMessage | None:
    """Keep what a response cut off by its run's end had streamed (`shown`, by delta
    kind), under the id its live text was sent with; None when nothing was streamed or
    the response was stored whole meanwhile."""
    if not any(shown.values()):
        return None
    reasoning = shown.get("reasoning", "")
    message, created = ConversationMessage.objects.get_or_create(
        id=message_id,
        defaults={
            "session_id": session_id,
            "role": ConversationMessage.Role.ASSISTANT,
            "agent": agent,
            "iteration": iteration,
            "content": shown.get("text", ""),
            "patch_preview": shown.get("patch", ""),
            # Where `reasoning_summary` reads a stored response's summary.
            "openai_response": (
                {"output": [{"type": "reasoning", "summary": [{"text": reasoning}]}]}
                if reasoning
                else None
            ),
            "stopped": True,
        },
    )
    return message if created else None


def store_run_outcome(person_message_id: uuid.UUID | None, outcome: str, error: str = "") -> None:
    """How the run ended, and why when it failed: kept with the run, so a later run's
    failure does not hide this one's reason."""
    if person_message_id is not None:
        ConversationMessage.objects.filter(id=person_message_id).update(
            run_outcome=outcome, run_error=error
        )


def mark_last_run_interrupted(session: VibecodeSession | uuid.UUID, error: str = "") -> None:
    """The session's latest run (its owner died) ended as interrupted, unless it said
    how it ended already."""
    session_id = session.id if isinstance(session, VibecodeSession) else session
    last = (
        ConversationMessage.objects.filter(
            session_id=session_id, role=ConversationMessage.Role.USER
        )
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)
        .first()
    )
    if last is not None:
        ConversationMessage.objects.filter(id=last, run_outcome="").update(
            run_outcome=Outcome.INTERRUPTED, run_error=error
        )


def run_outcome(outcome: str | None, interrupted: bool) -> str:
    """`run_outcome` for a run's `run_finished` outcome."""
    if interrupted:
        return Outcome.INTERRUPTED
    if outcome == "error" or outcome is None:
        return Outcome.FAILED
    return outcome
