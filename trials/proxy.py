"""The model proxy: the one way a trial's sandbox reaches the model, and its spans reach us.

The sandbox has no network. This server process listens on a Unix socket in a
directory every sandbox sees read-only (`testruns.sandbox.mounts.PROXY_DIR`). Each
running trial is granted a random capability, written into its own sandbox only; a
request must carry it as its bearer token (a test's sandbox holds none). Then:
- `POST /v1/responses` and `POST /v1/chat/completions`, the endpoints the SDK uses,
  are forwarded to the configured model server (`OPENAI_BASE_URL`, or OpenAI) with
  the real key in place of the capability, the answer streamed back as it comes;
  anything else is refused. Each request is counted against the trial's budget
  before it leaves (requests), each answer's usage after (tokens, dollars, and the
  user's dollars today); past a limit the proxy answers 429 naming the limit and the
  setting that raises it, marked not to be retried;
- `POST /trial/events` carries the harness's spans and result to the trial's runner.
HTTP/1.1 is parsed by h11; the forwarding client is httpx.
"""

import asyncio
import contextlib
import json
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import h11
import httpx
from django.conf import settings

from sessions_app.costs import cost_of_usage
from testruns.sandbox import mounts

logger = logging.getLogger(__name__)

SOCKET_NAME = "model.sock"
FORWARDED = ("/v1/responses", "/v1/chat/completions")
EVENTS_PATH = "/trial/events"
MAX_BODY_BYTES = 8 * 1024**2
# What the proxy keeps of a non-streamed answer to read its usage.
MAX_USAGE_BODY_BYTES = 4 * 1024**2
UPSTREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=60.0, pool=10.0)
# Request headers passed on to the model server (the key is never one of them).
_PASSED_HEADERS = {"content-type", "accept", "user-agent", "openai-beta"}
# Answer headers not passed back (h11 frames the body itself; httpx decoded it).
_DROPPED_HEADERS = {"content-length", "transfer-encoding", "content-encoding", "connection",
                    "keep-alive", "set-cookie"}  # fmt: skip


@dataclass
class Usage:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    # Models with no price in MODEL_PRICES: their tokens count, their dollars cannot.
    unpriced: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_json(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class Budget:
    max_requests: int
    max_tokens: int
    max_cost: Decimal
    # What the user may still spend today, this trial included.
    daily_cost_left: Decimal


EventHandler = Callable[[list[dict[str, Any]]], Awaitable[None]]


@dataclass
class Grant:
    """What the proxy knows of one running trial."""

    trial_id: uuid.UUID
    budget: Budget
    on_events: EventHandler
    capability: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    usage: Usage = field(default_factory=Usage)
    # The limit that stopped the trial's model calls, said as a person can act on it.
    refused: str = ""

    def refusal(self) -> str:
        """Why the next model request may not leave, or ""."""
        budget, usage = self.budget, self.usage
        if usage.requests >= budget.max_requests:
            return (
                f"the trial's model request limit ({budget.max_requests} requests) was "
                "reached: raise TRIAL_MAX_MODEL_REQUESTS, or lower max_turns"
            )
        if usage.total_tokens >= budget.max_tokens:
            return (
                f"the trial's token limit ({budget.max_tokens} tokens) was reached: "
                "raise TRIAL_MAX_TOKENS"
            )
        if usage.cost >= budget.max_cost:
            return (
                f"the trial's cost limit (${budget.max_cost}) was reached: raise TRIAL_MAX_COST_USD"
            )
        if usage.cost >= budget.daily_cost_left:
            return (
                f"your daily trial budget (${settings.TRIAL_DAILY_COST_USD}) was reached: "
                "try again tomorrow, or raise TRIAL_DAILY_COST_USD"
            )
        return ""

    def add_usage(self, usage: dict[str, Any] | None, model: str) -> None:
        if not usage:
            return
        prompt = _int(usage, "input_tokens", "prompt_tokens")
        completion = _int(usage, "output_tokens", "completion_tokens")
        details = usage.get("input_tokens_details") or usage.get("prompt_tokens_details") or {}
        cached = _int(details, "cached_tokens") if isinstance(details, dict) else 0
        self.usage.input_tokens += prompt
        self.usage.output_tokens += completion
        cost = cost_of_usage(
            {
                "model": model,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "cached_tokens": cached,
            }
        )
        if cost is None:
            self.usage.unpriced += prompt + completion
        else:
            self.usage.cost += cost


def _int(data: dict[str, Any], *keys: str) -> int:
    for key in keys:
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return max(0, value)
    return 0


def upstream_base() -> str:
    return (settings.OPENAI_BASE_URL or "https://api.openai.com/v1").rstrip("/")


class ModelProxy:
    """This process's proxy: one Unix socket, one grant per running trial."""

    def __init__(self) -> None:
        self.grants: dict[str, Grant] = {}
        self.server: asyncio.AbstractServer | None = None
        self.client: httpx.AsyncClient | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.path: Path | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.server is not None and self.loop is loop:
            return
        self.path = mounts.proxy_dir() / SOCKET_NAME
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        self.path.chmod(0o600)
        self.client = httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT)
        self.loop = loop

    def grant(self, trial_id: uuid.UUID, budget: Budget, on_events: EventHandler) -> Grant:
        grant = Grant(trial_id, budget, on_events)
        self.grants[grant.capability] = grant
        return grant

    def revoke(self, grant: Grant) -> None:
        self.grants.pop(grant.capability, None)

    # --- One connection ----------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        try:
            while True:
                request = await self._next(conn, reader)
                if not isinstance(request, h11.Request):
                    return
                body = bytearray()
                while True:
                    event = await self._next(conn, reader)
                    if isinstance(event, h11.Data):
                        body += event.data
                        if len(body) > MAX_BODY_BYTES:
                            await self._answer(conn, writer, 413, "The request is too large.")
                            return
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    else:
                        return
                await self._handle(conn, writer, request, bytes(body))
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (h11.ProtocolError, ConnectionError, asyncio.IncompleteReadError):
            return
        except Exception:
            logger.exception("the model proxy failed on a request")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _next(self, conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            conn.receive_data(await reader.read(65536))

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, event: Any) -> None:
        data = conn.send(event)
        if data:
            writer.write(data)
            await writer.drain()

    async def _answer(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        message: str,
        code: str = "trial_proxy",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        body = json.dumps(
            {"error": {"message": message, "type": "trial_proxy", "code": code}}
        ).encode()
        response_headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            *(headers or []),
        ]
        await self._send(conn, writer, h11.Response(status_code=status, headers=response_headers))
        await self._send(conn, writer, h11.Data(data=body))
        await self._send(conn, writer, h11.EndOfMessage())

    async def _handle(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, request: h11.Request, body: bytes
    ) -> None:
        headers = {name.decode().lower(): value.decode() for name, value in request.headers}
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        grant = self.grants.get(token) if token else None
        if grant is None:
            await self._answer(conn, writer, 401, "No trial holds this capability.", "no_trial")
            return
        path = request.target.decode().split("?", 1)[0]
        if request.method != b"POST":
            await self._answer(conn, writer, 405, "Only POST is forwarded.")
        elif path == EVENTS_PATH:
            await self._events(conn, writer, grant, body)
        elif path in FORWARDED:
            await self._forward(conn, writer, grant, path, headers, body)
        else:
            await self._answer(
                conn,
                writer,
                403,
                f"A trial reaches only the model ({', '.join(FORWARDED)}), not {path}.",
                "not_forwarded",
            )

    async def _events(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, grant: Grant, body: bytes
    ) -> None:
        try:
            events = json.loads(body)["events"]
            assert isinstance(events, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            await self._answer(conn, writer, 400, "Expected {'events': [...]}.")
            return
        try:
            await grant.on_events([e for e in events if isinstance(e, dict)])
        finally:
            await self._answer(conn, writer, 200, "ok", "ok")

    async def _forward(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        grant: Grant,
        path: str,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        refused = grant.refusal()
        if refused:
            grant.refused = refused
            await self._answer(
                conn,
                writer,
                429,
                f"Trial budget reached: {refused}.",
                "trial_budget",
                [("x-should-retry", "false")],
            )
            return
        grant.usage.requests += 1
        try:
            model = str(json.loads(body).get("model") or "")
        except (ValueError, AttributeError):
            model = ""
        assert self.client is not None
        upstream = self.client.build_request(
            "POST",
            upstream_base() + path.removeprefix("/v1"),
            content=body,
            headers={
                **{k: v for k, v in headers.items() if k in _PASSED_HEADERS},
                "authorization": f"Bearer {settings.OPENAI_API_KEY or 'none'}",
            },
        )
        try:
            answer = await self.client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            await self._answer(
                conn, writer, 502, f"The model server did not answer: {exc}", "upstream"
            )
            return
        try:
            passed = [
                (name, value)
                for name, value in answer.headers.items()
                if name.lower() not in _DROPPED_HEADERS
            ]
            await self._send(
                conn, writer, h11.Response(status_code=answer.status_code, headers=passed)
            )
            streamed = "text/event-stream" in answer.headers.get("content-type", "")
            reader = _UsageReader(streamed)
            async for chunk in answer.aiter_bytes():
                reader.feed(chunk)
                await self._send(conn, writer, h11.Data(data=chunk))
            await self._send(conn, writer, h11.EndOfMessage())
        finally:
            await answer.aclose()
        usage, answered_model = reader.usage()
        grant.add_usage(usage, answered_model or model)


class _UsageReader:
    """Reads the usage out of an answer as it passes: the JSON body, or the stream's
    `response.completed` event (Responses) / last chunk's `usage` (Chat Completions)."""

    def __init__(self, streamed: bool) -> None:
        self.streamed = streamed
        self.buffer = bytearray()
        self.found: dict[str, Any] | None = None
        self.model = ""

    def feed(self, chunk: bytes) -> None:
        self.buffer += chunk
        if not self.streamed:
            if len(self.buffer) > MAX_USAGE_BODY_BYTES:
                self.buffer.clear()
            return
        while b"\n" in self.buffer:
            line, _, rest = bytes(self.buffer).partition(b"\n")
            self.buffer = bytearray(rest)
            if line.startswith(b"data:"):
                self._read(line[5:].strip())

    def _read(self, data: bytes) -> None:
        try:
            payload = json.loads(data)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        holder = payload.get("response") if isinstance(payload.get("response"), dict) else payload
        assert isinstance(holder, dict)
        if isinstance(holder.get("usage"), dict):
            self.found = holder["usage"]
            self.model = str(holder.get("model") or self.model)

    def usage(self) -> tuple[dict[str, Any] | None, str]:
        if not self.streamed and self.buffer:
            self._read(bytes(self.buffer))
        return self.found, self.model


_proxy = ModelProxy()


async def proxy() -> ModelProxy:
    """This process's proxy, listening (started on first use, on this event loop)."""
    await _proxy.start()
    return _proxy
