"""The vibecode run: a person's request becomes a reviewed diff, or a text answer.

One asyncio task per run, on the server's event loop. The VibeCoder runs with
`Runner.run_streamed` and the SDK's session memory; its `submit_patch` tool
(`patch_step`) applies and parses the patch, then runs the Evaluator for at most
`VIBECODE_MAX_ROUNDS` rounds. Every model response is emitted and stored as it
arrives (`recording`). A session has at most one run at a time, claimed in the
database and kept alive by a heartbeat, and a run ends with exactly one
`run_finished` event.
"""

import asyncio
import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from agents import Agent, Runner
from agents.memory import Session
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from agents_app import all_agents
from agents_app.agent_cache import cached_agent, run_config
from agents_app.errors import VIBECODER_MAX_TURNS, describe_error, ensure_model_configured
from agents_app.memory import clear_memory, close_memory, evaluator_key, open_memory
from agents_app.model_guard import tracked_model_calls
from agents_app.patch_step import handle_patch
from agents_app.recording import RecordingHooks
from agents_app.run_state import VibecodeRun
from projects.models import Project
from reviews.models import Diff
from sessions_app.events import emit
from sessions_app.models import ConversationMessage, VibecodeSession
from vibegrapher.background import BackgroundTasks, in_thread

logger = logging.getLogger(__name__)

# This process's name in `VibecodeSession.run_owner`: host, pid and a per-boot token.
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
RUN_HEARTBEAT_SECONDS = 10.0
# A run whose owner has not said it is alive for this long is dead.
RUN_STALE_AFTER = timedelta(seconds=6 * RUN_HEARTBEAT_SECONDS)

_active_runs = BackgroundTasks("vibecode")


class RunInProgress(Exception):
    """The session already has a run going."""


def active_run(session_id: uuid.UUID) -> asyncio.Task[None] | None:
    """The task of the session's run in this process, if any (tests await it)."""
    return _active_runs.get(session_id)


def _build_vibecoder() -> Agent[Any]:
    return all_agents.build_vibecoder(handle_patch)


def numbered(code: str) -> str:
    return "\n".join(f"{n:>4} | {line}" for n, line in enumerate(code.splitlines(), start=1))


def vibecoder_input(run: VibecodeRun, focus: str = "") -> str:
    return (
        f"{focus}Request:\n{run.prompt}\n\n"
        f"The current `{run.filename}` (commit {run.base_commit[:12]}):\n"
        f"{numbered(run.original_code)}\n"
    )


def node_focus(run: VibecodeRun) -> str:
    if not run.node_id:
        return ""
    return (
        f"This conversation is about the agent named {run.node_id!r}. Focus your change "
        "on it; change other parts of the file only when the request needs it.\n\n"
    )


def rejection_prompt(diff: Diff, feedback: str) -> str:
    """The prompt of the run that follows a person's rejection of a diff."""
    return (
        "A person reviewed the diff you produced and rejected it.\n\n"
        f"Their feedback:\n{feedback}\n\n"
        f"Your original request was:\n{diff.vibecoder_prompt}\n\n"
        f"The rejected diff:\n{diff.diff_content}\n"
        "Write a new patch against the current file that addresses the feedback."
    )


@in_thread
def _claim(session_id: uuid.UUID) -> bool:
    """Mark the session running unless a live run holds it (a dead one is taken over)."""
    now = timezone.now()
    free = ~Q(run_state=VibecodeSession.RunState.RUNNING) | Q(
        run_heartbeat_at__lt=now - RUN_STALE_AFTER
    )
    return bool(
        VibecodeSession.objects.filter(free, id=session_id).update(
            run_state=VibecodeSession.RunState.RUNNING,
            run_started_at=now,
            run_heartbeat_at=now,
            run_owner=PROCESS_ID,
            last_error="",
            updated_at=now,
        )
    )


@in_thread
def _release(
    session_id: uuid.UUID,
    state: str = VibecodeSession.RunState.IDLE,
    error: str = "",
) -> None:
    VibecodeSession.objects.filter(id=session_id, run_owner=PROCESS_ID).update(
        run_state=state, last_error=error, run_owner="", updated_at=timezone.now()
    )


@in_thread
def _store_user_message(session_id: uuid.UUID, content: str) -> ConversationMessage:
    return ConversationMessage.objects.create(
        session_id=session_id,
        role=ConversationMessage.Role.USER,
        agent=ConversationMessage.Agent.USER,
        content=content,
    )


@in_thread
def _load_run(session_id: uuid.UUID, prompt: str) -> VibecodeRun:
    session = VibecodeSession.objects.select_related("project").get(id=session_id)
    project: Project = session.project
    return VibecodeRun(
        session_id=session.id,
        project_id=project.id,
        slug=project.slug,
        filename=project.main_file,
        branch=project.current_branch,
        base_commit=project.current_commit,
        original_code=project.current_code,
        prompt=prompt,
        memory_key=session.openai_session_key,
        node_id=session.node_id,
    )


async def start_run(
    session: VibecodeSession, prompt: str, *, display_text: str | None = None
) -> ConversationMessage:
    """Store the person's message and start the run; answers before the run ends.

    Raises ModelNotConfigured, or RunInProgress when the session has a live run.
    """
    ensure_model_configured()
    if not await _claim(session.id):
        raise RunInProgress("A run is already going in this session; wait for it to finish.")
    try:
        message = await _store_user_message(session.id, display_text or prompt)
        run = await _load_run(session.id, prompt)
        run.person_text = display_text or prompt
    except BaseException:
        await _release(session.id)
        raise
    await emit(
        session.project_id,
        {
            "type": "conversation_message",
            "message_id": str(message.id),
            "session_id": str(session.id),
            "role": message.role,
            "agent": message.agent,
            "content": message.content,
            "patch_preview": None,
            "iteration": None,
            "token_usage": None,
            "created_at": message.created_at.isoformat(),
        },
    )
    _active_runs.start(session.id, _run(run))
    return message


async def _heartbeat(session_id: uuid.UUID) -> None:
    while True:
        await asyncio.sleep(RUN_HEARTBEAT_SECONDS)
        await in_thread(VibecodeSession.objects.filter(id=session_id, run_owner=PROCESS_ID).update)(
            run_heartbeat_at=timezone.now()
        )


async def _drive(run: VibecodeRun) -> None:
    memory: Session = await open_memory(run.slug, run.memory_key)
    try:
        with tracked_model_calls(run.vibecoder_calls):
            run.stream = Runner.run_streamed(
                cached_agent(_build_vibecoder),
                vibecoder_input(run, node_focus(run)),
                context=run,
                session=memory,
                hooks=RecordingHooks(run.session_id, run.project_id, run.trace_id),
                run_config=run_config(run.trace_id, "Vibegrapher vibecode"),
                max_turns=VIBECODER_MAX_TURNS,
            )
        async for _ in run.stream.stream_events():
            pass
        if run.outcome is None:
            run.outcome = "text"
    finally:
        if run.stream is not None:
            run.stream.cancel()
        close_memory(memory)


async def _run(run: VibecodeRun) -> None:
    heartbeat = asyncio.create_task(_heartbeat(run.session_id))
    state = VibecodeSession.RunState.IDLE
    try:
        try:
            async with asyncio.timeout(settings.VIBECODE_RUN_TIMEOUT_SECONDS):
                await _drive(run)
        except TimeoutError:
            run.outcome = "error"
            run.error = (
                f"The run did not finish within {settings.VIBECODE_RUN_TIMEOUT_SECONDS:g} s "
                "(the model did not answer in time): try again, or raise "
                "VIBECODE_RUN_TIMEOUT_SECONDS."
            )
        except Exception as exc:
            logger.exception("vibecode run failed session=%s", run.session_id)
            run.outcome = "error"
            run.error = describe_error(exc, calls=run.vibecoder_calls)
        if run.outcome == "error":
            state = VibecodeSession.RunState.FAILED
    except asyncio.CancelledError:
        # The server is shutting down: the run cannot finish here.
        state = VibecodeSession.RunState.INTERRUPTED
        run.outcome = "error"
        run.error = "The server stopped during the run: send the message again."
        raise
    finally:
        heartbeat.cancel()
        await asyncio.shield(_finish(run, state))


async def _finish(run: VibecodeRun, state: str) -> None:
    await _release(run.session_id, state, run.error)
    event: dict[str, Any] = {
        "type": "run_finished",
        "session_id": str(run.session_id),
        "outcome": run.outcome or "error",
    }
    if run.diff_id is not None:
        event["diff_id"] = str(run.diff_id)
    if run.error:
        event["error"] = run.error
    if run.outcome == "max_iterations":
        event["final_feedback"] = run.final_feedback
        event["error"] = "Max iterations reached"
    if run.diff_id is not None:
        diff = await Diff.objects.aget(id=run.diff_id)
        await emit(
            run.project_id,
            {
                "type": "diff_created",
                "diff_id": str(diff.id),
                "session_id": str(run.session_id),
                "status": diff.status,
                "commit_message": diff.commit_message,
            },
        )
    await emit(run.project_id, event)  # type: ignore[arg-type]
    logger.info(
        "vibecode run finished session=%s outcome=%s rounds=%d",
        run.session_id,
        run.outcome,
        run.iteration,
    )


def mark_interrupted_runs() -> int:
    """Runs left 'running' by a dead process become 'interrupted'.

    Dead means: started by an earlier boot of a process on this host, or silent for
    longer than RUN_STALE_AFTER. Called at start-up and before sessions are read.
    """
    host = PROCESS_ID.split(":", 1)[0]
    stale = timezone.now() - RUN_STALE_AFTER
    dead = (Q(run_owner__startswith=f"{host}:") & ~Q(run_owner=PROCESS_ID)) | Q(
        run_heartbeat_at__lt=stale
    )
    # Only runs this process does not own can be dead; ours have a live task.
    live_here = _active_runs.keys()
    return (
        VibecodeSession.objects.filter(run_state=VibecodeSession.RunState.RUNNING)
        .filter(dead)
        .exclude(id__in=live_here)
        .update(
            run_state=VibecodeSession.RunState.INTERRUPTED,
            last_error="The server restarted during the run: send the message again.",
            run_owner="",
            updated_at=timezone.now(),
        )
    )


async def clear_evaluator_memory(session: VibecodeSession) -> None:
    slug = await _slug(session)
    await clear_memory(slug, evaluator_key(session.openai_session_key))


async def clear_session_memory(session: VibecodeSession) -> None:
    slug = await _slug(session)
    await clear_memory(slug, session.openai_session_key)
    await clear_memory(slug, evaluator_key(session.openai_session_key))


async def _slug(session: VibecodeSession) -> str:
    return await sync_to_async(lambda: session.project.slug)()
