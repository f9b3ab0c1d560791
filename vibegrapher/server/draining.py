"""HTTP requests in flight, and how they are answered while the server stops.

A graceful shutdown (vibegrapher/server/shutdown.py) first lets the requests already
in flight finish. This ASGI middleware keeps the set of them, and once the process is
draining:

- a response gets `Connection: close`, so a client (or a proxy) that kept the
  connection open opens a new one, to a server that is not stopping;
- a request still unanswered when the grace period is nearly over is given up on: it
  is answered 503 with `Retry-After` and a message saying the server is restarting,
  and its handling is cancelled (and awaited: nothing of it may outlive the loop);
- a request that comes after that is answered the same 503 at once;
- any 503 of the app's own (a run refused because runs are ending) gets
  `Retry-After` if it has none: every 503 of a stopping server says when to retry.

A response already under way when its request is given up on (a file being
streamed) cannot be turned into a 503: it is cut off.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Retry-After of the restart's 503: another process (or machine) is up by then.
RETRY_AFTER_SECONDS = 2
RESTARTING = (
    f"The server is restarting; your request was not completed. "
    f"Try again in {RETRY_AFTER_SECONDS} seconds."
)


class _State:
    draining = False  # stopping: responses close their connection
    refusing = False  # past the grace period's end: every request gets the 503


class Flight:
    """One request in flight: its handling's task and what of its answer has gone out."""

    def __init__(self, scope: Scope, send: Send) -> None:
        self.scope = scope
        self._send = send
        self.task: asyncio.Task[None] | None = None
        self.started = False  # http.response.start sent
        self.given_up = False

    async def send(self, message: Message) -> None:
        if self.given_up:
            return  # answered 503 already: the rest of the view's answer goes nowhere
        if message["type"] == "http.response.start":
            self.started = True
            if _State.draining:
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                headers.append((b"connection", b"close"))
                if message.get("status") == 503 and not any(
                    h[0].lower() == b"retry-after" for h in headers
                ):
                    headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
                message = {**message, "headers": headers}
        await self._send(message)

    async def give_up(self) -> None:
        """Answer 503 (unless the answer has started) and cancel the handling."""
        if self.given_up:
            return
        self.given_up = True
        if not self.started:
            self.started = True
            try:
                await send_restarting(self.scope, self._send)
            except Exception as exc:  # the connection is gone already
                logger.info("shutdown: could not answer %s: %s", self.scope.get("path"), exc)
        if self.task is not None and not self.task.done():
            self.task.cancel()


_flights: set[Flight] = set()


def restarting_response(path: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of the restart's 503: JSON under /api/, text elsewhere."""
    if path.startswith("/api/"):
        body, kind = json.dumps({"detail": RESTARTING}).encode(), b"application/json"
    else:
        body, kind = RESTARTING.encode(), b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", kind),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        (b"connection", b"close"),
        (b"cache-control", b"no-store"),
    ]
    return headers, body


async def send_restarting(scope: Scope, send: Send) -> None:
    headers, body = restarting_response(str(scope.get("path", "")))
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TrackRequests:
    """ASGI middleware (HTTP only): keeps the requests in flight (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _State.refusing:
            await send_restarting(scope, send)
            return
        flight = Flight(scope, send)
        # A task of its own, so that giving up cancels the handling, not this
        # coroutine (which stays to await it); cancelling this one cancels it too.
        flight.task = asyncio.ensure_future(self.app(scope, receive, flight.send))
        _flights.add(flight)
        try:
            await flight.task
        except asyncio.CancelledError:
            if not flight.given_up or _cancelling():
                raise
        finally:
            _flights.discard(flight)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def in_flight() -> int:
    return len(_flights)


def begin() -> None:
    """The process is stopping: responses close their connections from now on."""
    _State.draining = True


def draining() -> bool:
    return _State.draining


async def wait_until_idle(seconds: float) -> bool:
    """Wait (at most `seconds`) for the requests in flight to end; True if they did.

    Requests that arrive meanwhile (on connections already open) count as well.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + max(0.0, seconds)
    while _flights:
        left = end - loop.time()
        if left <= 0:
            return False
        tasks = [f.task for f in list(_flights) if f.task is not None]
        await asyncio.wait(tasks, timeout=min(left, 0.5))
        await asyncio.sleep(0)  # their TrackRequests coroutines forget them
    return True


async def give_up_all() -> int:
    """Refuse requests from now on; answer 503 to those in flight and cancel them.

    Returns how many there were. Their handling unwinds afterwards: `wait_until_idle`
    waits for it.
    """
    _State.draining = _State.refusing = True
    flights = list(_flights)
    for flight in flights:
        await flight.give_up()
    if flights:
        logger.warning("shutdown: %d requests did not finish in time: answered 503", len(flights))
    return len(flights)


def reset() -> None:
    """For tests: back to serving."""
    _State.draining = _State.refusing = False
    _flights.clear()
