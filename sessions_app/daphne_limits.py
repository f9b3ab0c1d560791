"""daphne's WebSocket size limit, answered with close code 1009 instead of a dropped connection.

daphne hands its `--websocket-max-message-size`/`--websocket-max-frame-size` (1 MB by
default) to autobahn, which checks a frame's length from its header, before buffering
the payload. But daphne leaves autobahn's `failByDrop` on, so an oversized frame makes
autobahn cut the TCP connection: the client sees 1006 and cannot tell why. daphne has
no option for it, so this wraps the one place daphne configures autobahn: the limit
becomes `WS_MAX_FRAME_BYTES` (64 KB) and autobahn closes with 1009 ("message too big").
The rest of the oversized frame is read and discarded, never buffered.
"""

from typing import Any

from django.conf import settings


def install() -> None:
    try:
        from daphne.ws_protocol import WebSocketFactory
    except ImportError:  # another ASGI server: the consumer's own check applies
        return
    if getattr(WebSocketFactory.setProtocolOptions, "vibegrapher_limits", False):
        return
    original = WebSocketFactory.setProtocolOptions

    def set_protocol_options(self: WebSocketFactory, *args: Any, **options: Any) -> None:
        limit = int(settings.WS_MAX_FRAME_BYTES)
        for name in ("maxMessagePayloadSize", "maxFramePayloadSize"):
            given = options.get(name)
            options[name] = limit if not given else min(int(given), limit)
        options["failByDrop"] = False
        original(self, *args, **options)

    set_protocol_options.vibegrapher_limits = True  # type: ignore[attr-defined]
    WebSocketFactory.setProtocolOptions = set_protocol_options
