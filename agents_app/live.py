"""Live text of the model response being written, sent to browsers as `message_delta`.

`model_guard` reads each streamed answer whole before the SDK sees it, so deltas are
taken there, as the raw events arrive (`LiveStream.feed`). A run's `LiveTarget` is
set in a context variable for the run (the SDK's tasks copy it), and says which
stored message the current response becomes: `RecordingHooks` allocates that id
when the model call starts and stores the response under it, so a browser replaces
the live text with the `conversation_message` of the same id.

Deltas are coalesced per response: at most one event per kind every
`MESSAGE_DELTA_INTERVAL_SECONDS`, so many watchers of a project stay cheap.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings

from agents_app.json_field_stream import JsonStringFieldReader
from agents_app.surrogates import scrub
from sessions_app.events import emit, message_delta_event

logger = logging.getLogger(__name__)

DeltaKind = Literal["text", "reasoning", "patch"]

# Raw Responses API events (the SDK converts Chat Completions to the same) whose
# `delta` a person reads as it is written.
_DELTA_KINDS: dict[str, DeltaKind] = {
    "response.output_text.delta": "text",
    "response.refusal.delta": "text",
    "response.reasoning_summary_text.delta": "reasoning",
    "response.custom_tool_call_input.delta": "patch",
}
_ARGUMENTS_DELTA = "response.function_call_arguments.delta"
# Agents that answer with a JSON verdict: a person reads its `reasoning` as it streams.
_VERDICT_AGENTS = frozenset({"evaluator", "refiner"})


@dataclass
class LiveMessage:
    """The response being written: the id it is stored under, and by whom."""

    message_id: uuid.UUID
    agent: str
    iteration: int | None
    # Model requests made for it so far (a cut stream is asked again).
    attempts: int = 0
    # What browsers were sent of it, by kind: kept if its run ends before it does.
    shown: dict[str, str] = field(default_factory=dict)


@dataclass
class LiveTarget:
    """Where a run's deltas go; `current` is set by `RecordingHooks.on_llm_start`."""

    project_id: uuid.UUID
    session_id: uuid.UUID
    current: LiveMessage | None = None
    # Tool names whose function-call arguments are a patch (streamed as `patch`).
    patch_tools: frozenset[str] = field(default_factory=frozenset)

    def begin(self, agent: str, iteration: int | None) -> uuid.UUID:
        self.current = LiveMessage(uuid.uuid4(), agent, iteration)
        return self.current.message_id

    def end(self) -> uuid.UUID | None:
        """The id the finished response is stored under (None if none was begun)."""
        current, self.current = self.current, None
        return current.message_id if current is not None else None


_target: ContextVar[LiveTarget | None] = ContextVar("vibegrapher_live_target", default=None)


@contextlib.contextmanager
def live_target(target: LiveTarget) -> Iterator[LiveTarget]:
    """Send the deltas of agent runs started inside this block to `target`."""
    token = _target.set(target)
    try:
        yield target
    finally:
        _target.reset(token)


def current_target() -> LiveTarget | None:
    return _target.get()


class LiveStream:
    """The deltas of one model request, coalesced and emitted in order."""

    def __init__(self, target: LiveTarget, message: LiveMessage) -> None:
        self.target = target
        self.message = message
        message.attempts += 1
        # A retry after a cut stream: the browser drops what the cut attempt showed.
        self._restart = message.attempts > 1
        if self._restart:
            message.shown = {}
        self._pending: list[tuple[DeltaKind, str]] = []
        self._patch_items: set[str] = set()
        self._verdict = (
            JsonStringFieldReader("reasoning") if message.agent in _VERDICT_AGENTS else None
        )
        self._lock = asyncio.Lock()
        self._stopped = asyncio.Event()
        self._pump = asyncio.create_task(self._flush_periodically())

    def feed(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "response.output_item.added":
            item = getattr(event, "item", None)
            if getattr(item, "name", None) in self.target.patch_tools:
                self._patch_items.add(str(getattr(item, "id", "")))
            return
        delta_kind = _DELTA_KINDS.get(kind or "")
        if kind == _ARGUMENTS_DELTA and str(getattr(event, "item_id", "")) in self._patch_items:
            delta_kind = "patch"
        delta = getattr(event, "delta", None)
        if delta_kind is None or not isinstance(delta, str) or not delta:
            return
        if delta_kind == "text" and self._verdict is not None:
            delta = self._verdict.feed(delta)
            if not delta:
                return
        if self._pending and self._pending[-1][0] == delta_kind:
            self._pending[-1] = (delta_kind, self._pending[-1][1] + delta)
        else:
            self._pending.append((delta_kind, delta))

    async def _flush_periodically(self) -> None:
        interval = settings.MESSAGE_DELTA_INTERVAL_SECONDS
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), interval)
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            pending, self._pending = self._pending, []
            for kind, delta in pending:
                # A lone surrogate cannot cross the channel layer.
                delta = scrub(delta)
                self.message.shown[kind] = self.message.shown.get(kind, "") + delta
                event = message_delta_event(
                    self.message.message_id,
                    self.target.session_id,
                    self.message.agent,
                    self.message.iteration,
                    kind,
                    delta,
                    restart=self._restart,
                )
                self._restart = False
                await emit(self.target.project_id, event)

    def stop(self) -> None:
        """Stop without waiting, dropping what was not sent (the request failed or was
        cancelled: a retry sends its own text, with `restart`)."""
        self._pending = []
        self._stopped.set()

    async def close(self) -> None:
        """Emit what is left; after this, no delta of the request follows."""
        self._stopped.set()
        try:
            await self._pump
        except Exception:  # emit never raises; anything else must not fail the run
            logger.exception("live deltas failed for message %s", self.message.message_id)


def start_stream() -> LiveStream | None:
    """A `LiveStream` for the model request starting now, if its run watches one."""
    target = _target.get()
    if target is None or target.current is None:
        return None
    return LiveStream(target, target.current)
