"""The entrypoint of a trial run, inside the sandbox: run the workflow on one input, traced.

Copied into the sandbox as `vibegrapher_trial.py` beside the project's file and
`trial.json` (its input, entry, limits and capability); it must import nothing of the
project, only the standard library and the Agents SDK. It:
- points the environment's OpenAI settings at a relay it runs on 127.0.0.1 (the
  sandbox's own loopback), which passes each connection to the server's model proxy
  through the Unix socket mounted at /run/vibegrapher: a workflow that builds its own
  client from the environment goes there too. The key is the trial's capability,
  which the proxy swaps for the real one;
- replaces the SDK's trace processors with one that sends every span, as it starts
  and ends, to the proxy (nothing goes to OpenAI's trace exporter);
- imports the workflow (not as `__main__`, so its own `main()` does not run) and
  runs the entry: an agent through `Runner.run`, or a function such as an Agent
  Builder export's `run_workflow(input)`;
- sends the final output, or the error a person can act on, and exits.
"""

import asyncio
import contextlib
import dataclasses
import importlib.util
import inspect
import json
import os
import queue
import socket
import sys
import threading
import traceback
from typing import Any

CONFIG_FILE = "trial.json"
EVENTS_PATH = "/trial/events"
# Strings in span data are cut to this many characters, lists to this many items.
MAX_TEXT = 4000
MAX_ITEMS = 50
NO_NETWORK_HINT = "Trial runs have no network: a tool that calls another server fails here."
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", None}
# Servers a span's code tried to reach, by span id (the sandbox has no network: the SDK
# tells the model only that the tool failed, and hides why from the trace).
_reached: dict[str, list[str]] = {}


def _watch_network(event: str, args: tuple[Any, ...]) -> None:
    """An audit hook: note each attempt to reach a server other than the relay."""
    if event == "socket.getaddrinfo":
        host, port = args[0], args[1]
    elif event == "socket.connect" and isinstance(args[1], tuple):
        host, port = args[1][0], args[1][1]
    else:
        return
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host in _LOCAL_HOSTS:
        return
    from agents.tracing import get_current_span

    span = get_current_span()
    if span is not None:
        attempts = _reached.setdefault(span.span_id, [])
        if len(attempts) < 10:
            attempts.append(f"{host}:{port}")


def _config() -> dict[str, Any]:
    with open(CONFIG_FILE) as file:
        config: dict[str, Any] = json.load(file)
    return config


# --- Talking to the proxy ---------------------------------------------------------------


class Proxy:
    """HTTP/1.1 requests to the model proxy over its Unix socket (one per call)."""

    def __init__(self, socket_path: str, capability: str) -> None:
        self.socket_path = socket_path
        self.capability = capability

    def connect(self) -> socket.socket:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.socket_path)
        return conn

    def post(self, path: str, payload: object) -> None:
        body = json.dumps(payload, default=str).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {self.capability}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        with self.connect() as conn:
            conn.sendall(head + body)
            while conn.recv(65536):
                pass


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def start_relay(proxy: Proxy) -> int:
    """Listen on the sandbox's loopback; each connection is piped to the proxy's socket.
    Returns the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)

    def accept() -> None:
        while True:
            client, _ = listener.accept()
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                upstream = proxy.connect()
            except OSError:
                client.close()
                continue
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, target), daemon=True).start()

    threading.Thread(target=accept, name="relay", daemon=True).start()
    return int(listener.getsockname()[1])


class EventSender:
    """Sends events to the proxy in order, from a thread: tracing never waits on it."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self.thread = threading.Thread(target=self._send, name="trial-events", daemon=True)
        self.thread.start()

    def put(self, event: dict[str, Any]) -> None:
        self.queue.put(event)

    def _send(self) -> None:
        while True:
            events = [self.queue.get()]
            while len(events) < 100:
                try:
                    events.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.proxy.post(EVENTS_PATH, {"events": events})
            except OSError as exc:
                print(f"trial: events not sent: {exc}", file=sys.stderr)
            for _ in events:
                self.queue.task_done()

    def flush(self) -> None:
        self.queue.join()


# --- Spans ---------------------------------------------------------------------------------


def clip(value: Any, depth: int = 0) -> Any:
    """JSON-ready, with long strings and lists cut (a span must stay small)."""
    if depth > 8:
        return "…"
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): clip(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, (list, tuple)):
        return [clip(v, depth + 1) for v in value[:MAX_ITEMS]]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return clip(dump(mode="json", exclude_none=True), depth)
        except Exception:
            pass
    return clip(str(value), depth)


def _response_output(response: Any) -> list[dict[str, Any]]:
    """A model response's output items, as the transcript shows them."""
    items = []
    for item in getattr(response, "output", None) or []:
        kind = getattr(item, "type", "")
        if kind == "message":
            text = "".join(getattr(part, "text", "") or "" for part in item.content)
            items.append({"type": "message", "text": text})
        elif kind == "function_call":
            items.append({"type": "function_call", "name": item.name, "arguments": item.arguments})
        else:
            items.append({"type": kind})
    return items


def span_name(data: dict[str, Any]) -> str:
    kind = data.get("type")
    if kind == "handoff":
        return f"{data.get('from_agent') or '?'} → {data.get('to_agent') or '?'}"
    if kind in ("response", "generation"):
        return str(data.get("model") or kind)
    return str(data.get("name") or kind or "span")


def span_payload(span: Any) -> dict[str, Any]:
    span_data = span.span_data
    try:
        data: dict[str, Any] = dict(span_data.export() or {})
    except Exception as exc:
        data = {"type": getattr(span_data, "type", "custom"), "export_error": repr(exc)}
    response = getattr(span_data, "response", None)
    if data.get("type") == "response" and response is not None:
        data["model"] = getattr(response, "model", None)
        data["output"] = _response_output(response)
    error = getattr(span, "error", None)
    if error:
        data["error"] = error
    reached = _reached.get(span.span_id)
    if reached:
        data["network"] = sorted(set(reached))
        data["hint"] = NO_NETWORK_HINT
    return {
        "id": span.span_id,
        "parent_id": span.parent_id,
        "type": str(data.get("type") or "custom"),
        "name": span_name(data),
        "started_at": span.started_at,
        "ended_at": span.ended_at,
        "data": clip(data),
    }


def make_processor(sender: EventSender) -> Any:
    from agents.tracing import TracingProcessor

    class StreamingProcessor(TracingProcessor):
        """Every span to the server as it starts and as it ends."""

        def on_trace_start(self, trace: Any) -> None:
            pass

        def on_trace_end(self, trace: Any) -> None:
            pass

        def on_span_start(self, span: Any) -> None:
            sender.put({"kind": "span_start", "span": span_payload(span)})

        def on_span_end(self, span: Any) -> None:
            sender.put({"kind": "span_end", "span": span_payload(span)})

        def shutdown(self) -> None:
            sender.flush()

        def force_flush(self) -> None:
            sender.flush()

    return StreamingProcessor()


# --- The workflow -------------------------------------------------------------------------


class TrialError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _traceback_tail(exc: BaseException, lines: int = 6) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "\n".join(text.rstrip().splitlines()[-lines:])


def import_workflow(main_file: str) -> Any:
    name = os.path.splitext(main_file)[0]
    spec = importlib.util.spec_from_file_location(name, os.path.abspath(main_file))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        raise TrialError("import", _traceback_tail(exc)) from None
    return module


def _agents(module: Any) -> dict[str, Any]:
    from agents import Agent

    return {name: value for name, value in vars(module).items() if isinstance(value, Agent)}


def find_agent(module: Any, entry: str) -> Any:
    found = _agents(module)
    if entry in found:
        return found[entry]
    for agent in found.values():
        if agent.name == entry:
            return agent
    names = sorted({agent.name for agent in found.values()})
    raise TrialError("entry", f"No agent named {entry!r} at the file's top level; agents: {names}")


def _argument(function: Any, text: str) -> Any:
    """What to pass a workflow function: the text, or its input model built from it
    (an Agent Builder export's `WorkflowInput(input_as_text=...)`)."""
    parameters = list(inspect.signature(function).parameters.values())
    if not parameters:
        raise TrialError("entry", f"{function.__name__}() takes no input to try it with.")
    annotation = parameters[0].annotation
    if isinstance(annotation, str):
        annotation = getattr(sys.modules.get(function.__module__), annotation, annotation)
    fields = getattr(annotation, "model_fields", None)
    if isinstance(fields, dict) and fields:
        name = "input_as_text" if "input_as_text" in fields else next(iter(fields))
        return annotation(**{name: text})
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        first = dataclasses.fields(annotation)[0].name
        return annotation(**{first: text})
    return text


def output_text(value: Any) -> str:
    if hasattr(value, "final_output") and hasattr(value, "last_agent"):
        value = value.final_output
    if isinstance(value, str):
        return value
    dump = getattr(value, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


async def run_entry(module: Any, config: dict[str, Any]) -> str:
    from agents import Runner

    entry = config["entry"]
    text = config["input"]
    if entry["kind"] == "agent":
        agent = find_agent(module, entry["name"])
        result = await Runner.run(agent, text, max_turns=int(config["max_turns"]))
        return output_text(result)
    function = getattr(module, entry["name"], None)
    if not callable(function):
        raise TrialError("entry", f"No function {entry['name']}() at the file's top level.")
    value = function(_argument(function, text))
    if inspect.isawaitable(value):
        value = await value
    return output_text(value)


def _error_kind(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "MaxTurnsExceeded":
        return "max_turns"
    if name in ("APIStatusError", "RateLimitError", "PermissionDeniedError", "APIConnectionError"):
        return "model"
    return "run"


def main() -> None:
    config = _config()
    proxy = Proxy(config["socket"], config["capability"])
    port = start_relay(proxy)
    os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    os.environ["OPENAI_API_KEY"] = config["capability"]
    os.environ.pop("OPENAI_AGENTS_DISABLE_TRACING", None)
    sender = EventSender(proxy)
    sys.addaudithook(_watch_network)
    result: dict[str, Any] = {"kind": "result", "final_output": None, "error": "", "error_kind": ""}
    try:
        import agents

        agents.set_tracing_disabled(False)
        agents.set_trace_processors([make_processor(sender)])
        agents.set_default_openai_api(config["api"])
        module = import_workflow(config["main_file"])
        result["final_output"] = asyncio.run(run_entry(module, config))
    except TrialError as exc:
        result["error"], result["error_kind"] = str(exc), exc.kind
    except BaseException as exc:
        result["error"], result["error_kind"] = _traceback_tail(exc), _error_kind(exc)
        traceback.print_exc()
    sender.flush()
    sender.put(result)
    sender.flush()
    sys.stdout.flush()
    os._exit(0)  # the workflow's threads, if any, end with the sandbox


if __name__ == "__main__":
    main()
