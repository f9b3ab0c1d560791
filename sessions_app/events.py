"""The events a project's WebSocket carries, and the one way to emit them.

Every producer builds one of these dicts (`type` first, JSON-ready values: string
UUIDs, ISO times) and calls `emit` (async code) or `emit_sync` (sync code). The
consumer forwards each event to its browser as one JSON text frame; an event too long
for that goes as a `large_event` reference to its body (`sessions_app.event_bodies`).
"""

import asyncio
import json
import logging
import uuid
from typing import Literal, NotRequired, TypedDict

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
    `tests`), "apply" (it does not apply, or the result does not parse: `detail` says),
    "invalid" (the patched file is refused, e.g. over the size limit), "empty" (it
    changes nothing), "encoding" (its text has a lone surrogate).
    `detail` is what the VibeCoder was told, in short.
    """

    reason: Literal["tests", "apply", "invalid", "empty", "encoding"]
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


class TokenUsageEvent(TypedDict):
    type: Literal["token_usage"]
    session_id: str
    message_id: str
    usage: TokenUsage
    timestamp: str


class RunFinishedEvent(TypedDict):
    type: Literal["run_finished"]
    session_id: str
    outcome: Literal[
        "diff", "text", "max_iterations", "refused_by_tests", "patch_refused", "error", "cancelled"
    ]
    diff_id: NotRequired[str]
    error: NotRequired[str]
    final_feedback: NotRequired[str]
    # The run was cut by a server restart or a dead server (outcome "error").
    interrupted: NotRequired[bool]
    # Outcome "refused_by_tests" or "patch_refused": what the last refusal said.
    refusal: NotRequired[str]


class DiffCreatedEvent(TypedDict):
    type: Literal["diff_created"]
    diff_id: str
    session_id: str
    status: str
    commit_message: str


class DiffStatusEvent(TypedDict):
    type: Literal["diff_status"]
    diff_id: str
    status: str


class CodeChangedEvent(TypedDict):
    type: Literal["code_changed"]
    project_id: str
    new_code: str
    commit_sha: str


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


class TestStatusEvent(TypedDict):
    """A test waits for a sandbox slot ("queued"), then has one ("running")."""

    type: Literal["test_status"]
    diff_id: str
    test_name: str
    status: Literal["queued", "running"]


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


class HeartbeatEvent(TypedDict):
    type: Literal["heartbeat"]
    server_time: str
    project_id: str
    status: Literal["alive"]
    connections: int


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
    reference: LargeEvent = {
        "type": "large_event",
        "event_type": event["type"],
        "ids": {
            name: str(fields[name])
            for name in REFERENCE_ID_FIELDS
            if isinstance(fields.get(name), str)
        },
        "bytes": len(text),
        "body_url": event_bodies.body_url(project_id, event_id) if event_id else None,
    }
    return json.dumps(reference)


def emit_sync(project_id: uuid.UUID | str, event: Event) -> None:
    """`emit` for synchronous code (views, threads, management commands); never raises."""
    async_to_sync(emit)(project_id, event)
