"""Request-body limits enforced in front of Django, before anything buffers the body.

Django reads a whole request body into memory (or a spooled file) before a view sees
it, and its DATA_UPLOAD_MAX_MEMORY_SIZE applies only to `request.body` (DRF's parsers
read the stream), so a large body costs memory in every process it reaches. This ASGI
middleware answers 413, in the API's JSON error shape, as soon as the declared
`Content-Length` or the bytes received pass the limit of the URL, and otherwise hands
Django the body it read (at most the limit, so memory stays bounded per request).

daphne itself receives a whole body (into a temporary file) and queues all of it for
the app before the app runs; the middleware then reads that queue empty and gives the
freed memory back, so a refused large body leaves the process as it was.
"""

import ctypes
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The first pattern that matches the path chooses the setting; others get the default.
ROUTE_LIMITS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/api/auth/|^/login/$"), "MAX_BODY_BYTES_AUTH"),
    # A prompt; a trial's input and a behaviour case carry a workflow's input, as long.
    (
        re.compile(
            r"^/api/sessions/[^/]+/messages$|^/api/projects/[^/]+/(?:trials|cases)$"
            r"|^/api/cases/[^/]+$"
        ),
        "MAX_BODY_BYTES_PROMPT",
    ),
    # A project's file and test cases carry code (MAX_CODE_BYTES, JSON-escaped); the
    # admin edits test cases; the project list page (`/`) takes a pasted or uploaded file.
    (
        re.compile(r"^/api/projects$|^/api/projects/[^/]+/tests$|^/api/tests/[^/]+$|^/admin/|^/$"),
        "MAX_BODY_BYTES_CODE",
    ),
]
DEFAULT_LIMIT = "MAX_BODY_BYTES_DEFAULT"


def _find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, which gives freed heap pages back to the system (or None)."""
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None


_malloc_trim = _find_malloc_trim()


def body_limit(path: str) -> tuple[int, str]:
    """The largest body accepted for `path`, in bytes, and the setting that says so."""
    name = next((name for pattern, name in ROUTE_LIMITS if pattern.search(path)), DEFAULT_LIMIT)
    return int(getattr(settings, name)), name


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, limit: int, setting: str) -> None:
    body = json.dumps(
        {"detail": f"The request body is larger than {limit} bytes, the limit here ({setting})."}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is not read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _discard_body(receive: Receive) -> None:
    """Read and drop what is left of the body.

    daphne hands an app the whole body, already queued in memory, whatever the app
    does; reading the queue empty frees it now instead of when daphne drops the
    request, and gives the freed pages back to the system (`malloc_trim`).
    """
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    del message
    _release_freed_memory()


def _release_freed_memory() -> None:
    # glibc keeps freed memory for reuse: without this the process stays at its peak.
    if _malloc_trim is not None:
        _malloc_trim(0)


class BodySizeLimit:
    """ASGI middleware: 413 for a body over its URL's limit, before the app reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = body_limit(scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit, setting)
            await _discard_body(receive)
            return
        # Read the body here, counting (a chunked body declares no length), so nothing
        # past the limit is ever kept; Django gets it as one message.
        chunks: list[bytes] = []
        received = 0
        disconnect: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":
                disconnect = message
                break
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _too_large(send, limit, setting)
                if message.get("more_body", False):
                    await _discard_body(receive)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        pending: list[Message] = [
            disconnect or {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        ]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)
