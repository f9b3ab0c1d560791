"""daphne's WebSocket size limit: for incoming frames only, answered with close code 1009.

daphne hands its `--websocket-max-message-size`/`--websocket-max-frame-size` (1 MB by
default) to autobahn, which checks a frame's length from its header, before buffering
the payload. But daphne leaves autobahn's `failByDrop` on, so an oversized frame makes
autobahn cut the TCP connection: the client sees 1006 and cannot tell why. daphne has
no option for it, so this wraps the one place daphne configures autobahn: the limit
becomes `WS_MAX_FRAME_BYTES` (64 KB) and autobahn closes with 1009 ("message too big").
The rest of the oversized frame is read and discarded, never buffered.

autobahn also applies `maxMessagePayloadSize` to what the server sends: a bigger event
raised `PayloadExceededError` inside daphne and stopped the socket. The limit guards
the server against its clients, so daphne's protocol is replaced by a subclass whose
`sendMessage` skips that check; every receiving check stays autobahn's own.
"""

from typing import Any

from django.conf import settings


def install() -> None:
    try:
        from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
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

    class IncomingLimitOnlyProtocol(WebSocketProtocol):
        """daphne's protocol, sending messages of any size."""

        def sendMessage(self, payload: bytes, *args: Any, **kwargs: Any) -> None:
            # autobahn reads the limit from the instance on each message, received or
            # sent; the reactor runs one callback at a time, so no frame is received
            # while it is lifted here.
            incoming_limit: int = self.maxMessagePayloadSize  # type: ignore[has-type]
            self.maxMessagePayloadSize = 0
            try:
                super().sendMessage(payload, *args, **kwargs)
            finally:
                self.maxMessagePayloadSize = incoming_limit

    set_protocol_options.vibegrapher_limits = True  # type: ignore[attr-defined]
    WebSocketFactory.setProtocolOptions = set_protocol_options
    WebSocketFactory.protocol = IncomingLimitOnlyProtocol
