"""The vibecode run: a person's request becomes a reviewed diff, or a text answer.

One asyncio task per run, on the server's event loop. The VibeCoder runs with
`Runner.run_streamed` and the SDK's session memory; its `submit_patch` tool
(`patch_step`) applies and parses the patch, then runs the Evaluator for at most
`VIBECODE_MAX_ROUNDS` rounds. Every model response is emitted and stored as it
arrives (`recording`). A session has at most one run at a time, claimed in the
database and kept alive by a heartbeat, and a run ends with exactly one
`run_finished` event.

Ownership is by liveness: the owner writes `run_heartbeat_at` every
RUN_HEARTBEAT_SECONDS, and a run not heard from for RUN_STALE_AFTER_SECONDS is dead,
whichever process or machine owned it. So any number of processes share one
database: none takes over, or marks interrupted, a run whose owner is alive.
"""

import asyncio
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from agents import Agent, Runner
from agents.memory import Session
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from agents_app import all_agents
from agents_app.agent_cache import cached_agent, run_config
from agents_app.errors import VIBECODER_MAX_TURNS, describe_error, ensure_model_configured
from agents_app.live import LiveTarget, live_target
from agents_app.memory import clear_memory, close_memory, evaluator_key, open_memory
from agents_app.model_guard import tracked_model_calls
from agents_app.patch_step import handle_patch
from agents_app.recording import RecordingHooks
from agents_app.run_state import VibecodeRun
from projects.models import Project
from projects.services import reconcile
from reviews.models import Diff
from sessions_app import story
from sessions_app.events import (
    conversation_message_event,
    emit,
    emit_sync,
    run_finished_event,
)
from sessions_app.models import ConversationMessage, VibecodeSession
from vibegrapher.lib.background import BackgroundTasks, in_thread

logger = logging.getLogger(__name__)

# This process's name in `VibecodeSession.run_owner`: host, pid and a per-boot token.
# Only for people reading the row, and for a run to recognise its own claim: whether
# a run is alive is decided by its heartbeat alone.
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

RESTARTING = "The server is restarting: send the message again."
OWNER_SILENT = (
    "The server running this conversation stopped answering during the run: send the message again."
)
TAKEN_OVER = "taken over by another server after this one was silent too long"
CANCELLED = "stopped by the person"
# How long the cancel request waits for a run of this process to end.
CANCEL_WAIT_SECONDS = 5.0

_active_runs = BackgroundTasks("vibecode")
# The state of each run of this process, by session (for `cancel_run`).
_runs: dict[uuid.UUID, VibecodeRun] = {}


class _Shutdown:
    """Set once `interrupt_runs` began: no run may start in the last moments."""

    started = False


def stale_after() -> timedelta:
    """A run whose owner has not said it is alive for this long is dead."""
    return timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS)


class RunInProgress(Exception):
    """The session already has a live run; `dead_at` is when it counts as dead if silent."""

    def __init__(self, message: str, dead_at: datetime | None = None) -> None:
        super().__init__(message)
        self.dead_at = dead_at


class RunNotStarted(Exception):
    """The run could not start (the database failed, the server is stopping); nothing
    was left claimed."""


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


def _dead(now: datetime) -> Q:
    """Running sessions whose owner has been silent too long (any process, any host)."""
    return Q(run_heartbeat_at__lt=now - stale_after()) | Q(run_heartbeat_at__isnull=True)


@in_thread
def _claim(session_id: uuid.UUID) -> RunInProgress | None:
    """Mark the session running unless a live run holds it (a dead one is taken over).

    None when claimed; otherwise the refusal, saying when the live run counts as dead
    should its server have stopped.
    """
    now = timezone.now()
    free = ~Q(run_state=VibecodeSession.RunState.RUNNING) | _dead(now)
    claimed = VibecodeSession.objects.filter(free, id=session_id).update(
        run_state=VibecodeSession.RunState.RUNNING,
        run_started_at=now,
        run_heartbeat_at=now,
        run_owner=PROCESS_ID,
        run_cancel_requested=False,
        last_error="",
        updated_at=now,
    )
    if claimed:
        return None
    heard = (
        VibecodeSession.objects.filter(id=session_id)
        .values_list("run_heartbeat_at", flat=True)
        .first()
    )
    return _busy(heard, now)


def _busy(heard: datetime | None, now: datetime) -> RunInProgress:
    if heard is None:
        return RunInProgress("A run is already going in this session; wait for it to finish.")
    dead_at = heard + stale_after()
    wait = max(0, int((dead_at - now).total_seconds() + 0.999))
    return RunInProgress(
        "A run is already going in this session (its server last reported "
        f"{max(0.0, (now - heard).total_seconds()):.0f} s ago); wait for it to finish. "
        f"If that server has stopped, the run counts as dead at {dead_at:%H:%M:%S} UTC "
        f"(in {wait} s), and a new message is accepted from then.",
        dead_at,
    )


@in_thread
def _release(
    session_id: uuid.UUID,
    state: str = VibecodeSession.RunState.IDLE,
    error: str = "",
) -> None:
    VibecodeSession.objects.filter(id=session_id, run_owner=PROCESS_ID).update(
        run_state=state,
        last_error=error,
        run_owner="",
        run_cancel_requested=False,
        updated_at=timezone.now(),
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
    session = VibecodeSession.objects.get(id=session_id)
    # A commit that a crash left in git but not in the row is taken as made first:
    # the run's base is HEAD, never a stale row.
    project: Project = reconcile(session.project_id)
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
    session: VibecodeSession,
    prompt: str,
    *,
    display_text: str | None = None,
    revises: uuid.UUID | None = None,
) -> ConversationMessage:
    """Store the person's message and start the run; answers before the run ends.

    Raises ModelNotConfigured; RunInProgress when the session has a live run;
    RunNotStarted when the database fails, with the claim released. Events are
    best-effort (`emit` never raises), so an unreachable Redis does not stop a run.
    """
    ensure_model_configured()
    if _Shutdown.started:
        raise RunNotStarted("The server is restarting: send the message again in a moment.")
    try:
        busy = await _claim(session.id)
    except DatabaseError as exc:
        raise RunNotStarted(f"The database did not answer: {exc}") from exc
    if busy is not None:
        raise busy
    try:
        message = await _store_user_message(session.id, display_text or prompt)
        run = await _load_run(session.id, prompt)
        run.person_text = display_text or prompt
        run.person_message_id = message.id
        run.revises_diff_id = revises
        await emit(
            session.project_id,
            conversation_message_event(
                message.id,
                session.id,
                message.role,
                message.agent,
                message.content,
                None,
                None,
                None,
                message.created_at,
            ),
        )
        _runs[session.id] = run
        _active_runs.start(session.id, _run(run))
    except BaseException as exc:
        # Nothing may stay claimed by a run that never started: the next message
        # would get 409 until the claim went stale.
        _runs.pop(session.id, None)
        await asyncio.shield(_release_quietly(session.id))
        if isinstance(exc, DatabaseError):
            raise RunNotStarted(f"The database did not answer: {exc}") from exc
        raise
    return message


async def _release_quietly(session_id: uuid.UUID) -> None:
    try:
        await _release(session_id)
    except DatabaseError:
        logger.exception("could not release the claim of session=%s", session_id)


@in_thread
def _beat(session_id: uuid.UUID) -> str:
    """Say the run is alive: "alive", "cancel" when a person asked (through another
    process) to stop it, or "lost" when the session is no longer this process's run."""
    ours = VibecodeSession.objects.filter(
        id=session_id,
        run_owner=PROCESS_ID,
        run_state=VibecodeSession.RunState.RUNNING,
    )
    if ours.filter(run_cancel_requested=False).update(run_heartbeat_at=timezone.now()):
        return "alive"
    return "cancel" if ours.update(run_heartbeat_at=timezone.now()) else "lost"


async def _heartbeat(run: VibecodeRun, run_task: asyncio.Task[Any]) -> None:
    while True:
        await asyncio.sleep(settings.RUN_HEARTBEAT_SECONDS)
        try:
            beat = await _beat(run.session_id)
        except DatabaseError as exc:
            # Try again next beat; silent for RUN_STALE_AFTER_SECONDS, the run is dead.
            logger.warning("run heartbeat failed session=%s: %s", run.session_id, exc)
            continue
        if beat == "cancel":
            logger.info("run of session=%s stopped by its person (asked elsewhere)", run.session_id)
            run.stop_reason = CANCELLED
            run_task.cancel()
            return
        if beat == "lost":
            # Silent too long (a blocked loop, a database outage) and taken over, or
            # marked interrupted: two runs must never go on in one session.
            logger.warning("run of session=%s was %s; stopping it", run.session_id, TAKEN_OVER)
            run.stop_reason = TAKEN_OVER
            run_task.cancel()
            return


async def _drive(run: VibecodeRun) -> None:
    memory: Session = await open_memory(run.slug, run.memory_key)
    try:
        target = LiveTarget(
            run.project_id, run.session_id, patch_tools=frozenset({all_agents.SUBMIT_PATCH})
        )
        run.live = target
        with tracked_model_calls(run.vibecoder_calls), live_target(target):
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
            # Ended in text: answered, unless its last patch was refused unreviewed.
            run.outcome = run.refused or "text"
    finally:
        if run.stream is not None:
            run.stream.cancel()
        close_memory(memory)


async def _run(run: VibecodeRun) -> None:
    this_task = asyncio.current_task()
    assert this_task is not None
    heartbeat = asyncio.create_task(_heartbeat(run, this_task))
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
        if run.stop_reason == CANCELLED:
            # A person stopped it: what was stored stays, and the session is free.
            state = VibecodeSession.RunState.IDLE
            run.outcome = "cancelled"
            run.error = ""
        else:
            # The server is shutting down (`interrupt_runs`), or the run was taken over.
            state = VibecodeSession.RunState.INTERRUPTED
            run.outcome = "error"
            run.error = RESTARTING
        raise
    finally:
        heartbeat.cancel()
        try:
            await asyncio.shield(_finish(run, state))
        finally:
            if _runs.get(run.session_id) is run:
                del _runs[run.session_id]


async def _finish(run: VibecodeRun, state: str) -> None:
    if run.stop_reason == TAKEN_OVER:
        # The session belongs to another run now: its events and state are not ours.
        logger.info("vibecode run stopped session=%s: %s", run.session_id, TAKEN_OVER)
        return
    interrupted = state == VibecodeSession.RunState.INTERRUPTED
    if run.outcome in ("cancelled", "error"):
        await _keep_cut_response(run)
    try:
        await _release(run.session_id, state, run.error)
        await in_thread(story.store_run_outcome)(
            run.person_message_id, story.run_outcome(run.outcome, interrupted), run.error
        )
    except DatabaseError:
        # The heartbeat stops with the run: the claim goes stale and is taken over.
        logger.exception("could not store the end of the run of session=%s", run.session_id)
    max_iterations = run.outcome == "max_iterations"
    event = run_finished_event(
        run.session_id,
        run.outcome or "error",
        diff_id=run.diff_id,
        refusal=run.refused_text if run.outcome in ("refused_by_tests", "patch_refused") else None,
        final_feedback=run.final_feedback if max_iterations else None,
        error="Max iterations reached" if max_iterations else run.error,
        interrupted=interrupted,
    )
    await emit(run.project_id, event)
    logger.info(
        "vibecode run finished session=%s outcome=%s rounds=%d",
        run.session_id,
        run.outcome,
        run.iteration,
    )


async def _keep_cut_response(run: VibecodeRun) -> None:
    """Store what the response being written when the run ended had streamed, marked
    stopped, so a reload still shows it; every open browser gets it as a message."""
    message = run.live.current if run.live is not None else None
    if message is None:
        return
    try:
        stored = await in_thread(story.store_stopped_response)(
            run.session_id, message.message_id, message.agent, message.iteration, message.shown
        )
    except DatabaseError:
        logger.exception("could not keep the cut response of session=%s", run.session_id)
        return
    if stored is not None:
        await emit(run.project_id, story.message_event(stored, run.project_id))


class NoRunToCancel(Exception):
    """The session has no run going."""


@in_thread
def _request_cancel(session_id: uuid.UUID) -> bool:
    """Flag the session's live run for its owner's heartbeat; False if none is going."""
    return bool(
        VibecodeSession.objects.filter(
            id=session_id, run_state=VibecodeSession.RunState.RUNNING
        ).update(run_cancel_requested=True)
    )


async def cancel_run(session_id: uuid.UUID) -> bool:
    """Stop the session's run; True when it ended here, False when its owner was told.

    A run of this process is cancelled at once (its model stream with it) and ends
    with `run_finished` "cancelled" before this returns. A run owned by another
    process is flagged in the database: its owner's heartbeat (every
    RUN_HEARTBEAT_SECONDS) reads the flag and stops it the same way. Raises
    NoRunToCancel when no run is going.
    """
    task = _active_runs.get(session_id)
    run = _runs.get(session_id)
    if task is None or run is None:
        if not await _request_cancel(session_id):
            raise NoRunToCancel("No run is going in this session.")
        return False
    run.stop_reason = CANCELLED
    task.cancel()
    await asyncio.wait({task}, timeout=CANCEL_WAIT_SECONDS)
    return True


def mark_interrupted_runs() -> int:
    """Runs whose owner has been silent for RUN_STALE_AFTER_SECONDS become 'interrupted'.

    Only the heartbeat counts: a run of another process, on this host or another, is
    left alone while that process says it is alive. Each one marked gets its
    `run_finished` (error), so open browsers stop showing it as working. Called at
    start-up and before sessions are read; sync (views, start-up thread).
    """
    now = timezone.now()
    # Runs with a task here are alive even if a blocked loop delayed their heartbeat.
    dead = (
        VibecodeSession.objects.filter(run_state=VibecodeSession.RunState.RUNNING)
        .filter(_dead(now))
        .exclude(id__in=_active_runs.keys())
    )
    marked = 0
    for session_id, project_id in list(dead.values_list("id", "project_id")):
        # One by one, each still dead when updated: a session claimed meanwhile by a
        # new run keeps it, and gets no run_finished.
        if dead.filter(id=session_id).update(
            run_state=VibecodeSession.RunState.INTERRUPTED,
            last_error=OWNER_SILENT,
            run_owner="",
            updated_at=now,
        ):
            marked += 1
            story.mark_last_run_interrupted(session_id, OWNER_SILENT)
            emit_sync(
                project_id,
                run_finished_event(session_id, "error", error=OWNER_SILENT, interrupted=True),
            )
    return marked


async def interrupt_runs(wait_seconds: float) -> int:
    """End every run of this process as `interrupted`, each with its `run_finished`.

    For a graceful shutdown (SIGTERM): waits at most `wait_seconds` for the runs
    to store their end and emit; returns how many runs there were.
    """
    _Shutdown.started = True
    tasks = _active_runs.tasks()
    for task in tasks:
        task.cancel()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=wait_seconds)
        if pending:
            logger.warning(
                "%d runs did not end within %g s of shutdown", len(pending), wait_seconds
            )
    return len(tasks)


async def clear_evaluator_memory(session: VibecodeSession) -> None:
    slug = await _slug(session)
    await clear_memory(slug, evaluator_key(session.openai_session_key))


async def clear_session_memory(session: VibecodeSession) -> None:
    slug = await _slug(session)
    await clear_memory(slug, session.openai_session_key)
    await clear_memory(slug, evaluator_key(session.openai_session_key))


async def _slug(session: VibecodeSession) -> str:
    return await in_thread(lambda: session.project.slug)()
