"""Requests daphne refuses before the app sees them are answered in JSON too.

Twisted's HTTP parser (under daphne) drops the connection without a word when the
request line (method, path, query) or one header line passes 16 KB, and answers a
bare `400` with no body for other malformed requests (headers over 16 KB in all, more
than 500 of them). A client then cannot tell what went wrong, and the API's rule that
every answer is JSON with a `detail` breaks for a long enough path. `install()` gives
both refusals a status that names the problem (414, 431, 400) and a JSON body.
"""

import json
from typing import Any

from twisted.web import http

# Twisted's limits (LineReceiver.MAX_LENGTH, HTTPChannel.totalHeadersSize / maxHeaders).
MAX_LINE_BYTES = http.HTTPChannel.MAX_LENGTH
MAX_HEADER_BYTES = http.HTTPChannel.totalHeadersSize
MAX_HEADERS = http.HTTPChannel.maxHeaders

REASONS = {400: b"Bad Request", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


def refusal(status: int, detail: str) -> bytes:
    """A complete HTTP/1.1 answer that closes the connection."""
    body = json.dumps({"detail": detail}).encode()
    head = (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % (status, REASONS[status], len(body))
    )
    return head + body


def _refuse(channel: http.HTTPChannel, status: int, detail: str) -> None:
    transport: Any = channel.transport  # an ITCPTransport while the channel is connected
    transport.write(refusal(status, detail))
    channel.loseConnection()


def _line_too_long(channel: http.HTTPChannel, line: bytes) -> None:
    if getattr(channel, "_HTTPChannel__first_line", 1):
        _refuse(
            channel,
            414,
            f"The request line (method, path and query) is over {MAX_LINE_BYTES} bytes.",
        )
    else:
        _refuse(channel, 431, f"A request header line is over {MAX_LINE_BYTES} bytes.")


def _bad_request(channel: http.HTTPChannel) -> None:
    _refuse(
        channel,
        400,
        f"Bad request: malformed HTTP, or headers over {MAX_HEADER_BYTES} bytes "
        f"or {MAX_HEADERS} lines.",
    )


def install() -> None:
    """Patch twisted's HTTP channel class (every connection daphne makes from now on)."""
    http.HTTPChannel.lineLengthExceeded = _line_too_long  # type: ignore[method-assign,assignment]
    http.HTTPChannel._respondToBadRequestAndDisconnect = _bad_request  # type: ignore[method-assign]
