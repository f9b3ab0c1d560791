"""The vibecode run: a person's request becomes a reviewed diff, or a text answer.

One asyncio task per run, on the server's event loop. The VibeCoder runs with
`Runner.run_streamed` and the SDK's session memory; its `submit_patch` tool applies
and parses the patch, then runs the Evaluator (its own memory) for at most
`VIBECODE_MAX_ROUNDS` rounds. Every model response is emitted to the project's
WebSocket group as it arrives and then stored, from the SDK's `on_llm_end` hook,
which the run loop awaits before its next step: order is kept and nothing is saved
in the background. A run ends with exactly one `run_finished` event.
"""

import asyncio
import contextlib
import functools
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, ParamSpec, TypeVar

import openai
from agents import (
    Agent,
    MaxTurnsExceeded,
    ModelResponse,
    OpenAIProvider,
    RunConfig,
    RunContextWrapper,
    RunHooks,
    Runner,
    RunResultStreaming,
    gen_trace_id,
    set_tracing_export_api_key,
)
from agents.memory import Session
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from agents_app import all_agents
from agents_app.memory import clear_memory, close_memory, evaluator_key, open_memory
from agents_app.patching import apply_patch, unified_diff
from projects.models import Project
from reviews.models import Diff
from sessions_app.events import TokenUsage, emit
from sessions_app.models import ConversationMessage, VibecodeSession
from vibegrapher.background import BackgroundTasks

logger = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

Outcome = Literal["diff", "text", "max_iterations", "error"]

# This process's name in `VibecodeSession.run_owner`: host, pid and a per-boot token.
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
RUN_HEARTBEAT_SECONDS = 10.0
# A run whose owner has not said it is alive for this long is dead.
RUN_STALE_AFTER = timedelta(seconds=6 * RUN_HEARTBEAT_SECONDS)
VIBECODER_MAX_TURNS = 12
PREVIEW_CHARS = 20_000
LOG_HEAD_CHARS = 200


def in_thread(func: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Run ORM code of a run in a worker thread, closing its connection afterwards.

    Not thread-sensitive: a run outlives the request that started it, and runs must
    not queue behind each other (or behind requests) on one shared thread.
    """
    return database_sync_to_async(func, thread_sensitive=False)


_active_runs = BackgroundTasks("vibecode")


class RunInProgress(Exception):
    """The session already has a run going."""


class ModelNotConfigured(Exception):
    """No API key or base URL: the agents cannot reach a model."""


def ensure_model_configured() -> None:
    if not (settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL):
        raise ModelNotConfigured(
            "No model is configured: set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL "
            "for another OpenAI-compatible server, and restart the server."
        )


def active_run(session_id: uuid.UUID) -> asyncio.Task[None] | None:
    """The task of the session's run in this process, if any (tests await it)."""
    return _active_runs.get(session_id)


# --- Model access ---------------------------------------------------------------


@functools.cache
def _client(base_url: str, api_key: str, loop_id: int) -> openai.AsyncOpenAI:
    # One client (and connection pool) per event loop. The SDK's retry settings
    # govern retries, so the client's own are off.
    return openai.AsyncOpenAI(
        api_key=api_key or "not-needed", base_url=base_url or None, max_retries=0
    )


def tracing_enabled() -> bool:
    choice = settings.OPENAI_TRACING.lower()
    if choice in ("on", "true", "1"):
        return True
    if choice in ("off", "false", "0"):
        return False
    # Traces go to OpenAI's own host: only worth sending with a real key and no local server.
    return bool(settings.OPENAI_API_KEY) and not settings.OPENAI_BASE_URL


def run_config(trace_id: str, workflow_name: str) -> RunConfig:
    client = _client(
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, id(asyncio.get_running_loop())
    )
    enabled = tracing_enabled()
    if enabled:
        set_tracing_export_api_key(settings.OPENAI_API_KEY)
    return RunConfig(
        model_provider=OpenAIProvider(
            openai_client=client, use_responses=all_agents.uses_responses_api()
        ),
        tracing_disabled=not enabled,
        trace_id=trace_id,
        workflow_name=workflow_name,
    )


# --- The state of one run -------------------------------------------------------


@dataclass
class VibecodeRun:
    session_id: uuid.UUID
    project_id: uuid.UUID
    slug: str
    filename: str
    branch: str
    base_commit: str
    original_code: str
    prompt: str
    memory_key: str
    node_id: str = ""
    trace_id: str = field(default_factory=gen_trace_id)
    iteration: int = 1
    outcome: Outcome | None = None
    diff_id: uuid.UUID | None = None
    final_feedback: str = ""
    error: str = ""
    # Messages of the current round, linked to the diff when it is stored.
    round_message_ids: list[uuid.UUID] = field(default_factory=list)
    stream: RunResultStreaming | None = None

    def finish(self, outcome: Outcome) -> None:
        """Record the outcome and let the SDK end the run after this turn.

        `after_turn` lets the tool's output reach the VibeCoder's memory, so its
        history stays consistent for the next message.
        """
        self.outcome = outcome
        if self.stream is not None:
            self.stream.cancel(mode="after_turn")


# --- Recording every model response ---------------------------------------------


def _head(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= LOG_HEAD_CHARS else text[:LOG_HEAD_CHARS] + "…"


def _dump(item: Any) -> Any:
    if hasattr(item, "model_dump"):
        return item.model_dump(mode="json", exclude_none=True)
    return item


@dataclass(frozen=True)
class ReadableResponse:
    content: str
    patch_preview: str


def readable_response(agent_label: str, output: list[Any]) -> ReadableResponse:
    """What a person reads of one model response: its text, or the patch it submitted."""
    texts: list[str] = []
    patch = ""
    for item in map(_dump, output):
        kind = item.get("type")
        if kind == "message":
            texts.extend(
                part.get("text", "") or part.get("refusal", "")
                for part in item.get("content", [])
                if isinstance(part, dict)
            )
        elif kind == "custom_tool_call" and item.get("name") == all_agents.SUBMIT_PATCH:
            description, patch = all_agents.split_custom_input(item.get("input", ""))
            texts.append(description or "Submitted a patch.")
        elif kind == "function_call" and item.get("name") == all_agents.SUBMIT_PATCH:
            try:
                arguments = json.loads(item.get("arguments") or "{}")
            except ValueError:
                arguments = {}
            patch = str(arguments.get("patch", ""))
            texts.append(str(arguments.get("description", "")) or "Submitted a patch.")
    content = "\n".join(t for t in texts if t)
    if agent_label == "evaluator":
        with contextlib.suppress(ValueError):
            verdict = all_agents.Evaluation.model_validate_json(content)
            status = "Approved" if verdict.approved else "Rejected"
            content = f"{status}: {verdict.reasoning}\nCommit message: {verdict.commit_message}"
    return ReadableResponse(content=content, patch_preview=patch[:PREVIEW_CHARS])


def token_usage(
    response: ModelResponse, model: str, agent: str, iteration: int | None
) -> TokenUsage:
    usage = response.usage
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "model": model,
        "agent": agent,
        "iteration": iteration,
        "reasoning_tokens": usage.output_tokens_details.reasoning_tokens,
        "cached_tokens": usage.input_tokens_details.cached_tokens,
    }


def full_response(response: ModelResponse, model: str) -> dict:
    return {
        "id": response.response_id,
        "request_id": response.request_id,
        "model": model,
        "output": [_dump(item) for item in response.output],
        "usage": {
            "requests": response.usage.requests,
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
            "total_tokens": response.usage.total_tokens,
            "input_tokens_details": _dump(response.usage.input_tokens_details),
            "output_tokens_details": _dump(response.usage.output_tokens_details),
        },
        "raw_usage": response.raw_usage,
    }


def _agent_label(agent: Agent[Any]) -> str:
    return "evaluator" if agent.name == all_agents.EVALUATOR_NAME else "vibecoder"


class RecordingHooks(RunHooks[Any]):
    """Emit, then store, each model response before the run takes its next step."""

    def __init__(self, session_id: uuid.UUID, project_id: uuid.UUID, trace_id: str) -> None:
        self.session_id = session_id
        self.project_id = project_id
        self.trace_id = trace_id

    def iteration(self, context: RunContextWrapper[Any]) -> int | None:
        run = context.context
        return run.iteration if isinstance(run, VibecodeRun) else None

    async def on_llm_start(
        self,
        context: RunContextWrapper[Any],
        agent: Agent[Any],
        system_prompt: str | None,
        input_items: list[Any],
    ) -> None:
        last = _dump(input_items[-1]) if input_items else {}
        text = last.get("content") or last.get("output") or last.get("input") or ""
        logger.info(
            "model call agent=%s iteration=%s model=%s prompt=%r",
            _agent_label(agent),
            self.iteration(context),
            agent.model,
            _head(text if isinstance(text, str) else json.dumps(text)),
        )

    async def on_llm_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], response: ModelResponse
    ) -> None:
        label = _agent_label(agent)
        iteration = self.iteration(context)
        model = str(agent.model)
        readable = readable_response(label, response.output)
        usage = token_usage(response, model, label, iteration)
        message_id = uuid.uuid4()
        created_at = timezone.now()
        logger.info(
            "model response agent=%s iteration=%s response=%r tokens input=%d output=%d total=%d",
            label,
            iteration,
            _head(readable.content),
            usage["prompt_tokens"],
            usage["completion_tokens"],
            usage["total_tokens"],
        )
        await emit(
            self.project_id,
            {
                "type": "conversation_message",
                "message_id": str(message_id),
                "session_id": str(self.session_id),
                "role": "assistant",
                "agent": label,
                "content": readable.content,
                "patch_preview": readable.patch_preview or None,
                "iteration": iteration,
                "token_usage": usage,
                "created_at": created_at.isoformat(),
            },
        )
        await emit(
            self.project_id,
            {
                "type": "token_usage",
                "session_id": str(self.session_id),
                "message_id": str(message_id),
                "usage": usage,
                "timestamp": created_at.isoformat(),
            },
        )
        await in_thread(ConversationMessage.objects.create)(
            id=message_id,
            session_id=self.session_id,
            role=ConversationMessage.Role.ASSISTANT,
            agent=label,
            iteration=iteration,
            content=readable.content,
            patch_preview=readable.patch_preview,
            openai_response=full_response(response, model),
            token_usage=usage,
            last_response_id=response.response_id or "",
            trace_id=self.trace_id,
            created_at=created_at,
        )
        run = context.context
        if isinstance(run, VibecodeRun):
            run.round_message_ids.append(message_id)


# --- submit_patch ---------------------------------------------------------------


async def handle_patch(context: RunContextWrapper[Any], patch: str, description: str) -> str:
    """Apply, parse, review: the answer the VibeCoder reads from `submit_patch`."""
    run = context.context
    assert isinstance(run, VibecodeRun)
    result = await asyncio.to_thread(apply_patch, run.original_code, patch, run.filename)
    diff_text = ""
    if result.ok and result.code is not None:
        diff_text = await asyncio.to_thread(
            unified_diff, run.original_code, result.code, run.filename
        )
    if not result.ok or result.code is None:
        logger.info("patch refused session=%s: %s", run.session_id, _head(result.error or ""))
        return (
            f"The patch was not applied: {result.error}\n"
            f"Fix it and call {all_agents.SUBMIT_PATCH} again with a diff against the file "
            "exactly as shown."
        )
    if not diff_text:
        return "The patch changes nothing. Submit a diff that makes the requested change."
    try:
        verdict = await evaluate(run, context, description, diff_text, result.code)
    except Exception as exc:
        # The Evaluator's failure ends the run; the VibeCoder cannot fix it.
        run.error = describe_error(exc, agent="Evaluator")
        run.finish("error")
        return "The review failed; the run stops here."
    if verdict.approved:
        run.diff_id = await store_diff(run, diff_text, result.code, verdict)
        run.finish("diff")
        return "Approved by the Evaluator and stored for human review. Stop here."
    if run.iteration >= settings.VIBECODE_MAX_ROUNDS:
        run.final_feedback = verdict.reasoning
        run.finish("max_iterations")
        return f"Rejected by the Evaluator: {verdict.reasoning}\nMax iterations reached."
    run.iteration += 1
    run.round_message_ids.clear()
    return (
        f"Rejected by the Evaluator: {verdict.reasoning}\n"
        "Address this and submit a new patch against the file exactly as shown."
    )


def evaluator_input(run: VibecodeRun, description: str, diff_text: str, new_code: str) -> str:
    return (
        f"Request:\n{run.prompt}\n\n"
        f"Round {run.iteration} of {settings.VIBECODE_MAX_ROUNDS}. "
        f"Patch description: {description or '(none)'}\n\n"
        f"Unified diff:\n{diff_text}\n"
        f"Resulting `{run.filename}`:\n{new_code}"
    )


async def evaluate(
    run: VibecodeRun,
    context: RunContextWrapper[Any],
    description: str,
    diff_text: str,
    new_code: str,
) -> all_agents.Evaluation:
    memory = await open_memory(run.slug, evaluator_key(run.memory_key))
    stream = Runner.run_streamed(
        evaluator_agent(),
        evaluator_input(run, description, diff_text, new_code),
        context=run,
        session=memory,
        hooks=RecordingHooks(run.session_id, run.project_id, run.trace_id),
        run_config=run_config(run.trace_id, "Vibegrapher evaluator"),
        max_turns=3,
    )
    try:
        async for _ in stream.stream_events():
            pass
    finally:
        stream.cancel()
        close_memory(memory)
    verdict = stream.final_output
    if not isinstance(verdict, all_agents.Evaluation):
        raise ValueError("the Evaluator did not return a verdict")
    return verdict


@in_thread
def store_diff(
    run: VibecodeRun, diff_text: str, new_code: str, verdict: all_agents.Evaluation
) -> uuid.UUID:
    diff = Diff.objects.create(
        session_id=run.session_id,
        project_id=run.project_id,
        base_commit=run.base_commit,
        target_branch=run.branch,
        diff_content=diff_text,
        patched_code=new_code,
        vibecoder_prompt=run.prompt,
        evaluator_reasoning=verdict.reasoning,
        commit_message=verdict.commit_message.strip().splitlines()[0][:500]
        if verdict.commit_message.strip()
        else "",
    )
    ConversationMessage.objects.filter(id__in=run.round_message_ids).update(diff=diff)
    return diff.id


# --- Agents (configuration only; built once per settings) -----------------------


def _settings_key() -> tuple[Any, ...]:
    return (
        settings.THINKING_MODEL,
        settings.SMALL_MODEL,
        settings.OPENAI_API,
        settings.VIBECODE_MODEL_RETRIES,
    )


@functools.cache
def _vibecoder(key: tuple[Any, ...]) -> Agent[Any]:
    return all_agents.build_vibecoder(handle_patch)


@functools.cache
def _evaluator(key: tuple[Any, ...]) -> Agent[Any]:
    return all_agents.build_evaluator()


def vibecoder_agent() -> Agent[Any]:
    return _vibecoder(_settings_key())


def evaluator_agent() -> Agent[Any]:
    return _evaluator(_settings_key())


# --- Starting and running -------------------------------------------------------


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


def describe_error(exc: BaseException, agent: str = "VibeCoder") -> str:
    """A message a person can act on."""
    if isinstance(exc, openai.AuthenticationError):
        return "The model server rejected the API key (401): check OPENAI_API_KEY."
    if isinstance(exc, openai.RateLimitError):
        return (
            "The model server kept answering 'rate limited' (429) after "
            f"{settings.VIBECODE_MODEL_RETRIES} retries: wait a minute and send the message again."
        )
    if isinstance(exc, openai.APIStatusError):
        return (
            f"The model server answered {exc.status_code} to the {agent} after "
            f"{settings.VIBECODE_MODEL_RETRIES} retries: {_head(exc.message)}. Try again later."
        )
    if isinstance(exc, openai.APIConnectionError):
        where = settings.OPENAI_BASE_URL or "api.openai.com"
        return f"Could not reach the model server at {where}: check OPENAI_BASE_URL and network."
    if isinstance(exc, MaxTurnsExceeded):
        return (
            f"The {agent} used all its {VIBECODER_MAX_TURNS} turns without a patch that "
            "applies: rephrase the request or make it smaller."
        )
    return f"The {agent} failed: {type(exc).__name__}: {_head(str(exc))}"


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
        run.stream = Runner.run_streamed(
            vibecoder_agent(),
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
            run.error = describe_error(exc)
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


# --- Memory and commit messages ---------------------------------------------------


async def clear_evaluator_memory(session: VibecodeSession) -> None:
    slug = await _slug(session)
    await clear_memory(slug, evaluator_key(session.openai_session_key))


async def clear_session_memory(session: VibecodeSession) -> None:
    slug = await _slug(session)
    await clear_memory(slug, session.openai_session_key)
    await clear_memory(slug, evaluator_key(session.openai_session_key))


async def _slug(session: VibecodeSession) -> str:
    return await sync_to_async(lambda: session.project.slug)()


async def refine_commit_message(diff: Diff, hint: str = "") -> str:
    """The Evaluator's new one-line commit message for a diff, stored on the diff."""
    ensure_model_configured()
    trace_id = gen_trace_id()
    prompt = (
        f"Purpose of the change:\n{diff.vibecoder_prompt}\n\n"
        f"Current commit message: {diff.commit_message}\n"
        f"Hint from the person: {hint or '(none)'}\n\n"
        f"Diff:\n{diff.diff_content}"
    )
    result = await Runner.run(
        _refiner(_settings_key()),
        prompt,
        hooks=RecordingHooks(diff.session_id, diff.project_id, trace_id),
        run_config=run_config(trace_id, "Vibegrapher commit message"),
        max_turns=2,
    )
    verdict = result.final_output
    if not isinstance(verdict, all_agents.Evaluation) or not verdict.commit_message.strip():
        raise ValueError("the Evaluator did not propose a commit message")
    message = verdict.commit_message.strip().splitlines()[0][:500]
    await Diff.objects.filter(id=diff.id).aupdate(commit_message=message, updated_at=timezone.now())
    return message


@functools.cache
def _refiner(key: tuple[Any, ...]) -> Agent[Any]:
    return all_agents.build_message_refiner()
