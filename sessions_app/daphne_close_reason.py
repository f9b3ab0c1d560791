"""daphne sends the close reason the application gives, not only the code.

The ASGI `websocket.close` message may carry a `reason` (the consumer's
`close(code, reason)`); daphne passes only the code to autobahn, so a client saw 4401
without learning whether its token expired or was revoked. This wraps daphne's
handling of that one message; autobahn truncates the reason to the 123 bytes a close
frame holds.
"""

from typing import Any


def install() -> None:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # another ASGI server sends the reason itself, or not at all
        return
    if getattr(WebSocketProtocol.handle_reply, "vibegrapher_close_reason", False):
        return
    original = WebSocketProtocol.handle_reply

    def handle_reply(self: WebSocketProtocol, message: dict[str, Any]) -> None:
        reason = message.get("reason")
        if (
            message.get("type") == "websocket.close"
            and isinstance(reason, str)
            and reason
            and self.state == self.STATE_OPEN
        ):
            code = message.get("code")
            self.sendClose(code=1000 if code is None else code, reason=reason)
            return
        original(self, message)

    handle_reply.vibegrapher_close_reason = True  # type: ignore[attr-defined]
    WebSocketProtocol.handle_reply = handle_reply
