"""What the model server sends, checked before the SDK acts on it.

`GuardedProvider` wraps the SDK's OpenAI provider so that each streamed answer is
read whole before the SDK sees any of it:

- A stream cut mid-answer becomes `StreamCut`, a connection error raised before a
  single event reached the SDK, so the SDK's own retry policy (network errors)
  asks again, with its backoff and `VIBECODE_MODEL_RETRIES`. The SDK never retries a
  stream that has yielded output, and a cut answer is worthless anyway.
- Lone surrogates (`\\ud800`, legal in JSON escapes, not encodable as UTF-8) are
  replaced before the SDK fingerprints, stores or re-sends the items: left in, they
  fail the run with `UnicodeEncodeError`. Which tool calls carried one is noted in
  the `ModelCalls` of the current run, so `submit_patch` refuses those patches.

Reading whole does not hide the answer from browsers: its deltas are sent live as
they arrive (`live`), and the response reaches browsers (and the database) whole,
in `recording`, once the SDK has it.
"""

import contextlib
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from agents import Model, ModelProvider, ModelResponse
from agents.items import TResponseStreamEvent
from agents.retry import ModelRetryAdvice, ModelRetryAdviceRequest

from agents_app import live
from agents_app.surrogates import scrub_in_place

# Events that end a streamed answer (the SDK raises on the failed ones); an answer
# without one was cut.
TERMINAL_EVENTS = frozenset(
    {"response.completed", "response.incomplete", "response.failed", "error", "response.error"}
)


class StreamCut(openai.APIConnectionError):
    """The model server answered, but the answer stopped before its end."""


@dataclass
class ModelCalls:
    """What happened to one agent run's model requests (see `tracked_model_calls`)."""

    # Retries of the latest model request (a new request starts again at 0).
    retries: int = 0
    # Tool call id -> where its arguments had a lone surrogate ("line 3, column 7").
    lone_surrogates: dict[str, str] = field(default_factory=dict)
    _retry_granted: bool = False

    def attempt_started(self) -> None:
        if self._retry_granted:
            self._retry_granted = False
        else:
            self.retries = 0

    def retry_granted(self) -> None:
        self.retries += 1
        self._retry_granted = True


_current: ContextVar[ModelCalls | None] = ContextVar("vibegrapher_model_calls", default=None)


@contextlib.contextmanager
def tracked_model_calls(calls: ModelCalls | None = None) -> Iterator[ModelCalls]:
    """Track the model requests of the agent runs started inside this block.

    The SDK runs a streamed agent in a task that copies the context when it is
    created, so the tracker follows the run after the block ends.
    """
    calls = calls if calls is not None else ModelCalls()
    token = _current.set(calls)
    try:
        yield calls
    finally:
        _current.reset(token)


def current_calls() -> ModelCalls | None:
    return _current.get()


def note_retry() -> None:
    calls = _current.get()
    if calls is not None:
        calls.retry_granted()


def _attempt_started() -> None:
    calls = _current.get()
    if calls is not None:
        calls.attempt_started()


def _scrub_and_note(value: Any) -> None:
    found: dict[str, str] = {}
    scrub_in_place(value, found)
    calls = _current.get()
    if calls is not None:
        calls.lone_surrogates.update({k: v for k, v in found.items() if k})


def connect_failed(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx2.ConnectError | httpx2.ConnectTimeout):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _request_of(exc: BaseException | None) -> httpx2.Request:
    try:
        request = getattr(exc, "request", None)
    except RuntimeError:  # httpx raises when an error has no request attached
        request = None
    return request if isinstance(request, httpx2.Request) else httpx2.Request("POST", "/")


class GuardedModel(Model):
    """One of the SDK's models, with its answers read whole and checked (see module doc)."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        # Optional capabilities the SDK probes with getattr (e.g. prompt cache keys).
        return getattr(self.inner, name)

    async def _cleanup_on_run_end(self, owner: object) -> None:
        await self.inner._cleanup_on_run_end(owner)

    async def close(self) -> None:
        await self.inner.close()

    def get_retry_advice(self, request: ModelRetryAdviceRequest) -> ModelRetryAdvice | None:
        return self.inner.get_retry_advice(request)

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        _attempt_started()
        response = await self.inner.get_response(*args, **kwargs)
        _scrub_and_note(response.output)
        return response

    async def stream_response(
        self, *args: Any, **kwargs: Any
    ) -> AsyncIterator[TResponseStreamEvent]:
        _attempt_started()
        events: list[TResponseStreamEvent] = []
        watched = live.start_stream()
        try:
            async for event in self.inner.stream_response(*args, **kwargs):
                events.append(event)
                if watched is not None:
                    watched.feed(event)
        except (openai.APIConnectionError, httpx2.TransportError) as exc:
            if watched is not None:
                watched.stop()
            if not events:
                raise  # nothing came: a network error, which describe_error words as such
            raise StreamCut(
                message=f"the answer was cut off after {len(events)} events: {exc}",
                request=_request_of(exc),
            ) from exc
        except BaseException:
            if watched is not None:
                watched.stop()
            raise
        if watched is not None:
            await watched.close()
        if not any(getattr(event, "type", None) in TERMINAL_EVENTS for event in events):
            raise StreamCut(
                message=f"the answer ended after {len(events)} events, before its end",
                request=_request_of(None),
            )
        for event in events:
            _scrub_and_note(event)
            yield event


class GuardedProvider(ModelProvider):
    def __init__(self, inner: ModelProvider) -> None:
        self.inner = inner

    def get_model(self, model_name: str | None) -> Model:
        return GuardedModel(self.inner.get_model(model_name))

    async def aclose(self) -> None:
        await self.inner.aclose()
