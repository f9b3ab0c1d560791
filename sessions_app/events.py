"""The events a project's WebSocket carries, how each is built, and the one way to emit them.

Each event has one constructor beside its TypedDict (`diff_status_event`, ...), which
every producer calls: it puts `type` first and makes the values JSON-ready (string
UUIDs, ISO times), so an event's shape is decided here only. The producer, the code
that made the change, then calls `emit` (async code) or `emit_sync` (sync code). The
consumer forwards each event to its browser as one JSON text frame; an event too long
for that goes as a `large_event` reference to its body (`sessions_app.event_bodies`).
"""

import asyncio
import json
import logging
import uuid
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from sessions_app import event_bodies

logger = logging.getLogger(__name__)

# The channel-layer message type the consumer handles (`ProjectConsumer.project_event`).
LAYER_MESSAGE_TYPE = "project.event"


class TokenUsage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    model: str
    agent: str
    iteration: int | None
    reasoning_tokens: NotRequired[int]
    cached_tokens: NotRequired[int]
    # US dollars (`sessions_app.costs`); null when the model has no price.
    cost_usd: NotRequired[float | None]


class RefusedTest(TypedDict):
    """A quick test that passes on the current file and not on the patched one."""

    name: str
    # On the patched file: "failed", "error" or "timeout" (`limit`: which sandbox limit).
    status: str
    limit: str
    # On the current file.
    base_status: str
    # The end of its output on the patched file.
    output: str


class PatchRefusal(TypedDict):
    """Why the server refused a patch before any review (a message of role `check`).

    `reason`: "tests" (it breaks a quick test that passes on the current file, listed in
    `tests`), "behaviour" (it breaks a behaviour case the current workflow passes: `detail`
    names them), "apply" (it does not apply, or the result does not parse: `detail` says),
    "invalid" (the patched file is refused, e.g. over the size limit), "empty" (it
    changes nothing), "encoding" (its text has a lone surrogate).
    `detail` is what the VibeCoder was told, in short.
    """

    reason: Literal["tests", "behaviour", "apply", "invalid", "empty", "encoding"]
    detail: str
    tests: list[RefusedTest]


class ConversationMessageEvent(TypedDict):
    type: Literal["conversation_message"]
    message_id: str
    session_id: str
    role: str
    agent: str
    content: str
    patch_preview: str | None
    iteration: int | None
    token_usage: TokenUsage | None
    created_at: str
    # Role `event` only: the person's action ("approved", "rejected", "committed").
    action: NotRequired[str]
    # The diff the message is about (an action, a commit message refinement).
    diff_id: NotRequired[str]
    # The model's reasoning summary, when it gave one (reasoning models, Responses API).
    reasoning_summary: NotRequired[str]
    # Role `check` only: why the server refused the round's patch before review.
    refusal: NotRequired[PatchRefusal]
    # A response cut off by the end of its run: the text streamed of it until then.
    stopped: NotRequired[bool]


def conversation_message_event(
    message_id: uuid.UUID | str,
    session_id: uuid.UUID | str,
    role: str,
    agent: str,
    content: str,
    patch_preview: str | None,
    iteration: int | None,
    token_usage: TokenUsage | None,
    created_at: datetime,
    *,
    action: str = "",
    reasoning_summary: str = "",
    diff_id: uuid.UUID | str | None = None,
    refusal: PatchRefusal | None = None,
    stopped: bool = False,
) -> ConversationMessageEvent:
    """A message of the conversation; the optional fields only when they say something."""
    event: ConversationMessageEvent = {
        "type": "conversation_message",
        "message_id": str(message_id),
        "session_id": str(session_id),
        "role": role,
        "agent": agent,
        "content": content,
        "patch_preview": patch_preview,
        "iteration": iteration,
        "token_usage": token_usage,
        "created_at": created_at.isoformat(),
    }
    # In the order the fields were always sent, so each event's JSON stays the same.
    if action:
        event["action"] = action
    if reasoning_summary:
        event["reasoning_summary"] = reasoning_summary
    if diff_id is not None:
        event["diff_id"] = str(diff_id)
    if refusal:
        event["refusal"] = refusal
    if stopped:
        event["stopped"] = True
    return event


class MessageDeltaEvent(TypedDict):
    """Live text of the response stored next as `conversation_message` `message_id`."""

    type: Literal["message_delta"]
    message_id: str
    session_id: str
    agent: str
    iteration: int | None
    kind: Literal["text", "reasoning", "patch"]
    delta: str
    # The model was asked again after a cut answer: drop the live text shown so far.
    restart: NotRequired[bool]


def message_delta_event(
    message_id: uuid.UUID | str,
    session_id: uuid.UUID | str,
    agent: str,
    iteration: int | None,
    kind: Literal["text", "reasoning", "patch"],
    delta: str,
    *,
    restart: bool = False,
) -> MessageDeltaEvent:
    event: MessageDeltaEvent = {
        "type": "message_delta",
        "message_id": str(message_id),
        "session_id": str(session_id),
        "agent": agent,
        "iteration": iteration,
        "kind": kind,
        "delta": delta,
    }
    if restart:
        event["restart"] = True
    return event


class TokenUsageEvent(TypedDict):
    type: Literal["token_usage"]
    session_id: str
    message_id: str
    usage: TokenUsage
    timestamp: str


def token_usage_event(
    session_id: uuid.UUID | str, message_id: uuid.UUID | str, usage: TokenUsage, timestamp: datetime
) -> TokenUsageEvent:
    return {
        "type": "token_usage",
        "session_id": str(session_id),
        "message_id": str(message_id),
        "usage": usage,
        "timestamp": timestamp.isoformat(),
    }


RunOutcome = Literal[
    "diff", "text", "max_iterations", "refused_by_tests", "patch_refused", "error", "cancelled"
]


class RunFinishedEvent(TypedDict):
    type: Literal["run_finished"]
    session_id: str
    outcome: RunOutcome
    diff_id: NotRequired[str]
    error: NotRequired[str]
    final_feedback: NotRequired[str]
    # The run was cut by a server restart or a dead server (outcome "error").
    interrupted: NotRequired[bool]
    # Outcome "refused_by_tests" or "patch_refused": what the last refusal said.
    refusal: NotRequired[str]


def run_finished_event(
    session_id: uuid.UUID | str,
    outcome: RunOutcome,
    *,
    diff_id: uuid.UUID | str | None = None,
    refusal: str | None = None,
    final_feedback: str | None = None,
    error: str = "",
    interrupted: bool = False,
) -> RunFinishedEvent:
    event: RunFinishedEvent = {
        "type": "run_finished",
        "session_id": str(session_id),
        "outcome": outcome,
    }
    # In the order the fields were always sent, so each event's JSON stays the same.
    if diff_id is not None:
        event["diff_id"] = str(diff_id)
    if refusal is not None:
        event["refusal"] = refusal
    if final_feedback is not None:
        event["final_feedback"] = final_feedback
    if error:
        event["error"] = error
    if interrupted:
        event["interrupted"] = True
    return event


class DiffCreatedEvent(TypedDict):
    type: Literal["diff_created"]
    diff_id: str
    session_id: str
    status: str
    commit_message: str


def diff_created_event(
    diff_id: uuid.UUID | str, session_id: uuid.UUID | str, status: str, commit_message: str
) -> DiffCreatedEvent:
    return {
        "type": "diff_created",
        "diff_id": str(diff_id),
        "session_id": str(session_id),
        "status": status,
        "commit_message": commit_message,
    }


class DiffStatusEvent(TypedDict):
    type: Literal["diff_status"]
    diff_id: str
    status: str


def diff_status_event(diff_id: uuid.UUID | str, status: str) -> DiffStatusEvent:
    return {"type": "diff_status", "diff_id": str(diff_id), "status": status}


class CodeChangedEvent(TypedDict):
    type: Literal["code_changed"]
    project_id: str
    new_code: str
    commit_sha: str


def code_changed_event(
    project_id: uuid.UUID | str, new_code: str, commit_sha: str
) -> CodeChangedEvent:
    return {
        "type": "code_changed",
        "project_id": str(project_id),
        "new_code": new_code,
        "commit_sha": commit_sha,
    }


TestOutcome = Literal["unchanged-pass", "unchanged-fail", "fixed", "regressed", "error"]


class TestCompletedEvent(TypedDict):
    type: Literal["test_completed"]
    diff_id: str
    test_name: str
    status: Literal["passed", "failed", "error", "timeout"]
    output: str
    duration: float
    # The sandbox limit that stopped the test ("out of memory", "disk limit", ...), or "".
    limit: NotRequired[str]
    # What the diff did to the test, and its result on the base code (`before_after`).
    outcome: NotRequired[TestOutcome]
    base_status: NotRequired[str | None]


def test_completed_event(
    diff_id: uuid.UUID | str,
    test_name: str,
    status: Literal["passed", "failed", "error", "timeout"],
    output: str,
    duration: float,
    limit: str,
    outcome: TestOutcome,
    base_status: str | None,
) -> TestCompletedEvent:
    return {
        "type": "test_completed",
        "diff_id": str(diff_id),
        "test_name": test_name,
        "status": status,
        "output": output,
        "duration": duration,
        "limit": limit,
        "outcome": outcome,
        "base_status": base_status,
    }


class TestStatusEvent(TypedDict):
    """A test waits for a sandbox slot ("queued"), then has one ("running")."""

    type: Literal["test_status"]
    diff_id: str
    test_name: str
    status: Literal["queued", "running"]


def test_status_event(
    diff_id: uuid.UUID | str, test_name: str, status: Literal["queued", "running"]
) -> TestStatusEvent:
    return {
        "type": "test_status",
        "diff_id": str(diff_id),
        "test_name": test_name,
        "status": status,
    }


class QuickTestEvent(TypedDict):
    """A quick test of a run's patch, before the Evaluator sees it: "queued", "running",
    then its result with the `outcome`; `done` of `total` have finished."""

    type: Literal["quick_test"]
    session_id: str
    iteration: int
    test_name: str
    status: Literal["queued", "running", "passed", "failed", "error", "timeout"]
    done: int
    total: int
    outcome: NotRequired[TestOutcome]
    base_status: NotRequired[str]
    output: NotRequired[str]


QuickTestStatus = Literal["queued", "running", "passed", "failed", "error", "timeout"]


def quick_test_event(
    session_id: uuid.UUID | str,
    iteration: int,
    test_name: str,
    status: QuickTestStatus,
    done: int,
    total: int,
    *,
    outcome: TestOutcome | None = None,
    base_status: str = "",
    output: str = "",
) -> QuickTestEvent:
    """`outcome` given (a finished test): `base_status` and `output` come with it."""
    event: QuickTestEvent = {
        "type": "quick_test",
        "session_id": str(session_id),
        "iteration": iteration,
        "test_name": test_name,
        "status": status,
        "done": done,
        "total": total,
    }
    if outcome is not None:
        event["outcome"] = outcome
        event["base_status"] = base_status
        event["output"] = output
    return event


class HeartbeatEvent(TypedDict):
    type: Literal["heartbeat"]
    server_time: str
    project_id: str
    status: Literal["alive"]
    connections: int


def heartbeat_event(server_time: datetime, project_id: str, connections: int) -> HeartbeatEvent:
    return {
        "type": "heartbeat",
        "server_time": server_time.isoformat(),
        "project_id": project_id,
        "status": "alive",
        "connections": connections,
    }


class LargeEvent(TypedDict):
    """An event whose JSON is over WS_EVENT_INLINE_MAX_BYTES, sent in its place: GET
    `body_url` (authenticated as any API call) for the whole event, then apply it as if
    it had come here, before any event that follows. `body_url` is null when the event
    was over EVENT_BODY_MAX_BYTES and not kept: re-read the state, as after a reconnect.
    A body can be fetched for EVENT_BODY_TTL_SECONDS (then 404: re-read the state)."""

    type: Literal["large_event"]
    # The `type` of the event it stands for.
    event_type: str
    # The event's own ids that it has (`project_id`, `session_id`, `message_id`,
    # `diff_id`, `commit_sha`, `test_name`), to decide without fetching it.
    ids: dict[str, str]
    # The length of the event's JSON (UTF-8 bytes; it is ASCII).
    bytes: int
    body_url: str | None


def large_event(
    event_type: str, ids: dict[str, str], size: int, body_url: str | None
) -> LargeEvent:
    return {
        "type": "large_event",
        "event_type": event_type,
        "ids": ids,
        "bytes": size,
        "body_url": body_url,
    }


TrialStatus = Literal["queued", "running", "completed", "failed", "cancelled", "timeout"]


class TrialSpan(TypedDict):
    """One span of a trial's trace, as the SDK's tracing reported it."""

    # "agent", "response", "generation", "function", "handoff", "guardrail", "custom"...
    type: str
    # The agent's or tool's name; "From → To" for a handoff; the model for a response.
    name: str
    id: str
    parent_id: str | None
    started_at: str | None
    ended_at: str | None
    # The span's data (the SDK's export, strings cut at 4,000 characters); a response's
    # `output` items; a failed span's `error` and, for a tool that reached for the
    # network, a `hint`.
    data: dict[str, Any]


class TrialStatusEvent(TypedDict):
    """A trial was queued (waiting for a sandbox) or started running."""

    type: Literal["trial_status"]
    trial_id: str
    project_id: str
    diff_id: str | None
    side: str
    entry: str
    status: TrialStatus


def trial_status_event(
    trial_id: uuid.UUID,
    project_id: uuid.UUID,
    diff_id: uuid.UUID | None,
    side: str,
    entry: str,
    status: TrialStatus,
) -> TrialStatusEvent:
    return {
        "type": "trial_status",
        "trial_id": str(trial_id),
        "project_id": str(project_id),
        "diff_id": str(diff_id) if diff_id else None,
        "side": side,
        "entry": entry,
        "status": status,
    }


class TrialSpanEvent(TypedDict):
    """A span of a running trial started (`ended_at` null) or ended."""

    type: Literal["trial_span"]
    trial_id: str
    phase: Literal["start", "end"]
    span: TrialSpan


def trial_span_event(
    trial_id: uuid.UUID, phase: Literal["start", "end"], span: TrialSpan
) -> TrialSpanEvent:
    return {"type": "trial_span", "trial_id": str(trial_id), "phase": phase, "span": span}


class TrialUsage(TypedDict):
    requests: int
    input_tokens: int
    output_tokens: int
    total_tokens: int


class TrialFinishedEvent(TypedDict):
    """A trial ended: its status, answer (or error a person can act on) and usage."""

    type: Literal["trial_finished"]
    trial_id: str
    status: TrialStatus
    final_output: str | None
    last_agent: str
    error: str
    usage: TrialUsage
    cost_usd: float
    duration_ms: int | None


def trial_finished_event(
    trial_id: uuid.UUID,
    status: TrialStatus,
    final_output: str | None,
    last_agent: str,
    error: str,
    usage: TrialUsage,
    cost_usd: float,
    duration_ms: int | None,
) -> TrialFinishedEvent:
    return {
        "type": "trial_finished",
        "trial_id": str(trial_id),
        "status": status,
        "final_output": final_output,
        "last_agent": last_agent,
        "error": error,
        "usage": usage,
        "cost_usd": cost_usd,
        "duration_ms": duration_ms,
    }


CaseStatus = Literal["passed", "failed", "error"]


class CaseResultEvent(TypedDict):
    """A behaviour case ran on one side of a change (or on HEAD): its verdict.

    `diff_id` is set for a diff's cases, `session_id` for a run's (in the loop, before
    the diff exists); `side` is `head`, `base` or `patched`."""

    type: Literal["case_result"]
    case_id: str
    case_name: str
    diff_id: str | None
    session_id: str | None
    side: str
    status: CaseStatus
    trial_id: str | None
    final_output: str | None
    judge_passed: bool | None
    judge_reason: str
    error: str


def case_result_event(
    *,
    case_id: uuid.UUID,
    case_name: str,
    diff_id: uuid.UUID | None,
    session_id: uuid.UUID | None,
    side: str,
    status: CaseStatus,
    trial_id: uuid.UUID | None,
    final_output: str | None,
    judge_passed: bool | None,
    judge_reason: str,
    error: str,
) -> CaseResultEvent:
    return {
        "type": "case_result",
        "case_id": str(case_id),
        "case_name": case_name,
        "diff_id": str(diff_id) if diff_id else None,
        "session_id": str(session_id) if session_id else None,
        "side": side,
        "status": status,
        "trial_id": str(trial_id) if trial_id else None,
        "final_output": final_output,
        "judge_passed": judge_passed,
        "judge_reason": judge_reason,
        "error": error,
    }


Event = (
    ConversationMessageEvent
    | MessageDeltaEvent
    | TokenUsageEvent
    | RunFinishedEvent
    | DiffCreatedEvent
    | DiffStatusEvent
    | CodeChangedEvent
    | TestCompletedEvent
    | TestStatusEvent
    | QuickTestEvent
    | TrialStatusEvent
    | TrialSpanEvent
    | TrialFinishedEvent
    | CaseResultEvent
    | HeartbeatEvent
    | LargeEvent
)

# The fields of an event that a `large_event` repeats.
REFERENCE_ID_FIELDS = (
    "project_id",
    "session_id",
    "message_id",
    "diff_id",
    "commit_sha",
    "test_name",
    "trial_id",
    "case_id",
)


def project_group(project_id: uuid.UUID | str) -> str:
    return f"project_{project_id}"


class EmitFailures:
    """How many events this process could not hand to the channel layer (logged, then dropped)."""

    count = 0


async def emit(project_id: uuid.UUID | str, event: Event) -> None:
    """Send `event` to every connection of the project, on any server process.

    Best-effort, never raises: an unreachable or slow channel layer (Redis down, cut
    or full) loses the event, which is logged and counted, and the caller goes on.
    What a person needs is in the database, which a client re-reads on reconnect.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    # Serialised once here, not once per connection: a group may hold hundreds.
    text = json.dumps(event)
    try:
        async with asyncio.timeout(settings.EVENT_EMIT_TIMEOUT_SECONDS):
            if len(text) > settings.WS_EVENT_INLINE_MAX_BYTES:
                text = await _reference(str(project_id), event, text)
            message = {"type": LAYER_MESSAGE_TYPE, "text": text}
            await layer.group_send(project_group(project_id), message)
    except Exception as exc:
        EmitFailures.count += 1
        logger.warning(
            "event %s for project %s dropped (%d so far): channel layer failed: %s",
            event["type"],
            project_id,
            EmitFailures.count,
            f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
        )


async def _reference(project_id: str, event: Event, text: str) -> str:
    """The JSON of the `large_event` standing for `event` (whose JSON is `text`), once
    its body is kept for the client to fetch."""
    event_id = await event_bodies.keep(project_id, text)
    if event_id is None:
        logger.warning(
            "event %s for project %s: %d bytes, over EVENT_BODY_MAX_BYTES; not kept",
            event["type"],
            project_id,
            len(text),
        )
    fields: dict[str, object] = dict(event)
    reference = large_event(
        event["type"],
        {
            name: str(fields[name])
            for name in REFERENCE_ID_FIELDS
            if isinstance(fields.get(name), str)
        },
        len(text),
        event_bodies.body_url(project_id, event_id) if event_id else None,
    )
    return json.dumps(reference)


def emit_sync(project_id: uuid.UUID | str, event: Event) -> None:
    """`emit` for synchronous code (views, threads, management commands); never raises."""
    async_to_sync(emit)(project_id, event)
