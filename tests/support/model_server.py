"""A local OpenAI-compatible server that answers from a script, for tests and benchmarks.

The real openai client and Agents SDK talk HTTP to it: the model is replaced at the
HTTP boundary, and nothing in the SDK or the app is patched. It speaks the Responses
API (`POST /v1/responses`, streamed as server-sent events or not) and Chat
Completions (`POST /v1/chat/completions`), and records every request body. A step
can also answer with several output items at once (`together`), drop the connection
mid-stream (`cut`) or fail with a status, message and error code (`error`).

It runs in a thread (`http.server`), never on the test's event loop, so a slow or
hanging answer cannot stall the code under test.
"""

import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

HANG_LIMIT_SECONDS = 120.0
_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}{int(time.time() * 1000) % 100000:05d}"


@dataclass
class Usage:
    input_tokens: int = 11
    output_tokens: int = 7
    reasoning_tokens: int = 0
    cached_tokens: int = 0


@dataclass
class Step:
    """One model response (or failure)."""

    kind: Literal["text", "function_call", "custom_tool_call", "error", "hang"]
    text: str = ""
    name: str = ""
    arguments: str = ""
    status: int = 200
    delay: float = 0.0
    usage: Usage = field(default_factory=Usage)
    headers: dict[str, str] = field(default_factory=dict)
    # Further output items of the same response (e.g. several tool calls at once).
    more: tuple["Step", ...] = ()
    # Streamed answers only: the connection drops after this many events, mid-body.
    cut_after: int | None = None
    # Errors only: the error's `code` (e.g. "context_length_exceeded").
    error_code: str = ""
    # Streamed answers only: the pause before each event after the first (a slow model).
    stream_delay_s: float = 0.0
    # Responses API only: a reasoning summary, output (and streamed) before the answer.
    reasoning: str = ""


def text(content: str, **kw: Any) -> Step:
    return Step("text", text=content, **kw)


def function_call(name: str, arguments: dict[str, Any] | str, **kw: Any) -> Step:
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return Step("function_call", name=name, arguments=encoded, **kw)


def custom_tool_call(name: str, input: str, **kw: Any) -> Step:
    return Step("custom_tool_call", name=name, arguments=input, **kw)


def error(status: int, message: str = "scripted error", **kw: Any) -> Step:
    return Step("error", status=status, text=message, **kw)


def together(*steps: Step, **kw: Any) -> Step:
    """One response carrying the output items of all `steps`, in order."""
    first, *rest = steps
    return Step(first.kind, first.text, first.name, first.arguments, more=tuple(rest), **kw)


def cut(step: Step, after_events: int) -> Step:
    """`step` streamed, with the connection dropped after `after_events` events."""
    return Step(step.kind, step.text, step.name, step.arguments, more=step.more,
                cut_after=after_events)  # fmt: skip


def hang(**kw: Any) -> Step:
    return Step("hang", **kw)


@dataclass
class RecordedRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def is_chat(self) -> bool:
        return self.path.endswith("/chat/completions")

    @property
    def instructions(self) -> str:
        if not self.is_chat:
            return str(self.body.get("instructions") or "")
        for message in self.body.get("messages", []):
            if message.get("role") in ("system", "developer"):
                return _content_text(message.get("content"))
        return ""

    def _items(self) -> list[dict[str, Any]]:
        if self.is_chat:
            return list(self.body.get("messages", []))
        given = self.body.get("input", [])
        return [{"role": "user", "content": given}] if isinstance(given, str) else list(given)

    def input_text(self) -> str:
        """Every text the request carries (messages, tool calls and outputs), joined."""
        parts: list[str] = []
        for item in self._items():
            if self.is_chat and item.get("role") in ("system", "developer"):
                continue
            parts.append(_content_text(item.get("content")))
            parts.append(_content_text(item.get("output")))
            parts.append(str(item.get("arguments") or item.get("input") or ""))
            for call in item.get("tool_calls") or []:
                parts.append(str(call.get("function", {}).get("arguments", "")))
        return "\n".join(p for p in parts if p)

    def tool_outputs(self) -> list[str]:
        """The outputs of earlier tool calls that this request sends back to the model."""
        outputs = []
        for item in self._items():
            if item.get("type") in ("function_call_output", "custom_tool_call_output"):
                outputs.append(_content_text(item.get("output")))
            elif self.is_chat and item.get("role") == "tool":
                outputs.append(_content_text(item.get("content")))
        return outputs


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return str(content)


class ModelServer:
    """Start, script, inspect, stop. Requests consume the script in order."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._script: deque[Step] = deque()
        self._responder: Callable[[RecordedRequest], Step] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> None:
        server = self

        class Handler(_Handler):
            model_server = server

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._script.extend(steps)

    def route(self, responder: Callable[[RecordedRequest], Step]) -> None:
        self._responder = responder

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self._responder = None

    def _next(self, request: RecordedRequest) -> Step | None:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.popleft()
        return self._responder(request) if self._responder else None


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when a benchmark opens dozens at once,
    # and each dropped SYN costs the client a one-second retransmission.
    request_queue_size = 256


class _Handler(BaseHTTPRequestHandler):
    model_server: ModelServer
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: with Nagle on, each small streamed write waits ~40 ms for the
    # client's delayed ACK, and every run looks that much slower than it is.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        request = RecordedRequest(self.path, body, {k.lower(): v for k, v in self.headers.items()})
        step = self.model_server._next(request)
        if step is None:
            self._json(500, _error_body("model server script exhausted", "server_error"))
            return
        if step.delay:
            self.model_server._stopping.wait(step.delay)
        if step.kind == "hang":
            self.model_server._stopping.wait(HANG_LIMIT_SECONDS)
            self.close_connection = True
            return
        if step.kind == "error":
            kind = "rate_limit_exceeded" if step.status == 429 else "server_error"
            if 400 <= step.status < 500 and step.status != 429:
                kind = "invalid_request_error"
            body = _error_body(step.text, kind)
            if step.error_code:
                body["error"]["code"] = step.error_code
            self._json(step.status, body, step.headers)
            return
        model = str(body.get("model", "test-model"))
        if self.path.endswith("/responses"):
            response = _response(step, model)
            if body.get("stream"):
                self._sse(
                    _response_events(response),
                    cut_after=step.cut_after,
                    delay_s=step.stream_delay_s,
                )
            else:
                self._json(200, response)
        elif self.path.endswith("/chat/completions"):
            if step.kind == "custom_tool_call":
                message = "custom tools are not supported by Chat Completions"
                self._json(400, _error_body(message, "invalid_request_error"))
                return
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            if body.get("stream"):
                chunks = _chat_chunks(step, model, include_usage)
                self._sse(chunks, done_marker=True, cut_after=step.cut_after)
            else:
                self._json(200, _chat_completion(step, model))
        else:
            self._json(404, _error_body(f"no route {self.path}", "not_found"))

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _sse(
        self,
        events: Iterator[dict[str, Any]],
        done_marker: bool = False,
        cut_after: int | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        # Chunked, as the real API streams: the connection stays open for the client's
        # next request, and dropping it before the last chunk is a cut the client
        # notices (an unframed body would just end).
        self.send_header("transfer-encoding", "chunked")
        if cut_after is not None:
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        pieces = []
        for event in events:
            kind = event.get("type")
            prefix = f"event: {kind}\n" if kind and not done_marker else ""
            pieces.append(f"{prefix}data: {json.dumps(event)}\n\n".encode())
        if done_marker:
            pieces.append(b"data: [DONE]\n\n")
        for index, data in enumerate(pieces[:cut_after]):
            if delay_s and index:
                self.model_server._stopping.wait(delay_s)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        if cut_after is not None and cut_after < len(pieces):
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": kind, "param": None}}


# --- Responses API ----------------------------------------------------------------


def _output_item(step: Step) -> dict[str, Any]:
    if step.kind == "text":
        return {
            "type": "message",
            "id": _id("msg"),
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": step.text, "annotations": []}],
        }
    if step.kind == "function_call":
        return {
            "type": "function_call",
            "id": _id("fc"),
            "call_id": _id("call"),
            "name": step.name,
            "arguments": step.arguments,
            "status": "completed",
        }
    return {
        "type": "custom_tool_call",
        "id": _id("ctc"),
        "call_id": _id("call"),
        "name": step.name,
        "input": step.arguments,
    }


def _reasoning_items(step: Step) -> list[dict[str, Any]]:
    if not step.reasoning:
        return []
    summary = [{"type": "summary_text", "text": step.reasoning}]
    return [{"type": "reasoning", "id": _id("rs"), "summary": summary}]


def _response(step: Step, model: str) -> dict[str, Any]:
    usage = step.usage
    return {
        "id": _id("resp"),
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "completed",
        "output": _reasoning_items(step) + [_output_item(part) for part in (step, *step.more)],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.input_tokens + usage.output_tokens,
        },
    }


def _chunks(value: str, size: int = 16) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


def _response_events(response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    sequence = itertools.count()
    started = {**response, "status": "in_progress", "output": [], "usage": None}
    yield {"type": "response.created", "sequence_number": next(sequence), "response": started}
    yield {"type": "response.in_progress", "sequence_number": next(sequence), "response": started}
    for index, item in enumerate(response["output"]):
        yield from _item_events(item, index, sequence)
    yield {"type": "response.completed", "sequence_number": next(sequence), "response": response}


def _item_events(
    item: dict[str, Any], index: int, sequence: Iterator[int]
) -> Iterator[dict[str, Any]]:
    common = {"output_index": index, "item_id": item["id"]}
    if item["type"] == "reasoning":
        started: dict[str, Any] = {**item, "summary": []}
        yield {"type": "response.output_item.added", "sequence_number": next(sequence),
               "output_index": index, "item": started}  # fmt: skip
        full = item["summary"][0]["text"]
        yield {"type": "response.reasoning_summary_part.added", "sequence_number": next(sequence),
               "summary_index": 0, "part": {"type": "summary_text", "text": ""},
               **common}  # fmt: skip
        for delta in _chunks(full):
            yield {"type": "response.reasoning_summary_text.delta",
                   "sequence_number": next(sequence), "summary_index": 0, "delta": delta,
                   **common}  # fmt: skip
        yield {"type": "response.reasoning_summary_text.done", "sequence_number": next(sequence),
               "summary_index": 0, "text": full, **common}  # fmt: skip
        yield {"type": "response.reasoning_summary_part.done", "sequence_number": next(sequence),
               "summary_index": 0, "part": item["summary"][0], **common}  # fmt: skip
    elif item["type"] == "message":
        empty = {**item, "status": "in_progress", "content": []}
        yield {"type": "response.output_item.added", "sequence_number": next(sequence),
               "output_index": index, "item": empty}  # fmt: skip
        part = {"type": "output_text", "text": "", "annotations": []}
        yield {"type": "response.content_part.added", "sequence_number": next(sequence),
               "content_index": 0, "part": part, **common}  # fmt: skip
        full = item["content"][0]["text"]
        for delta in _chunks(full):
            yield {"type": "response.output_text.delta", "sequence_number": next(sequence),
                   "content_index": 0, "delta": delta, "logprobs": [], **common}  # fmt: skip
        yield {"type": "response.output_text.done", "sequence_number": next(sequence),
               "content_index": 0, "text": full, "logprobs": [], **common}  # fmt: skip
        yield {"type": "response.content_part.done", "sequence_number": next(sequence),
               "content_index": 0, "part": item["content"][0], **common}  # fmt: skip
    elif item["type"] == "function_call":
        empty = {**item, "arguments": "", "status": "in_progress"}
        yield {"type": "response.output_item.added", "sequence_number": next(sequence),
               "output_index": index, "item": empty}  # fmt: skip
        for delta in _chunks(item["arguments"]):
            yield {"type": "response.function_call_arguments.delta",
                   "sequence_number": next(sequence), "delta": delta, **common}  # fmt: skip
        yield {"type": "response.function_call_arguments.done", "sequence_number": next(sequence),
               "arguments": item["arguments"], "name": item["name"], **common}  # fmt: skip
    else:
        empty = {**item, "input": ""}
        yield {"type": "response.output_item.added", "sequence_number": next(sequence),
               "output_index": index, "item": empty}  # fmt: skip
        for delta in _chunks(item["input"]):
            yield {"type": "response.custom_tool_call_input.delta",
                   "sequence_number": next(sequence), "delta": delta, **common}  # fmt: skip
        yield {"type": "response.custom_tool_call_input.done", "sequence_number": next(sequence),
               "input": item["input"], **common}  # fmt: skip
    yield {"type": "response.output_item.done", "sequence_number": next(sequence),
           "output_index": index, "item": item}  # fmt: skip


# --- Chat Completions ---------------------------------------------------------------


def _chat_usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _chat_completion(step: Step, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish = "stop"
    if step.kind == "text":
        message["content"] = step.text
    else:
        finish = "tool_calls"
        message["tool_calls"] = [
            {
                "id": _id("call"),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in (step, *step.more)
        ]
    return {
        "id": _id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _chat_usage(step.usage),
    }


def _chat_chunks(step: Step, model: str, include_usage: bool) -> Iterator[dict[str, Any]]:
    base = {"id": _id("chatcmpl"), "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}  # fmt: skip

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    if step.kind == "text":
        for piece in _chunks(step.text):
            yield chunk({"content": piece})
        yield chunk({}, "stop")
    else:
        for index, call in enumerate((step, *step.more)):
            first = {"index": index, "id": _id("call"), "type": "function",
                     "function": {"name": call.name, "arguments": ""}}  # fmt: skip
            yield chunk({"tool_calls": [first]})
            for piece in _chunks(call.arguments):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield chunk({}, "tool_calls")
    if include_usage:
        yield {**base, "choices": [], "usage": _chat_usage(step.usage)}
