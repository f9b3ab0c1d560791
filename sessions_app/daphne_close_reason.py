"""daphne sends the close reason the application gives, not only the code.

The ASGI `websocket.close` message may carry a `reason` (the consumer's
`close(code, reason)`); daphne passes only the code to autobahn, so a client saw 4401
without learning whether its token expired or was revoked. This wraps daphne's
handling of that one message; autobahn truncates the reason to the 123 bytes a close
frame holds.

autobahn also lets an application send only 1000 and 3000-4999, while the codes a
server sends about itself (1012, service restart: the server is restarting for a
deploy, reconnect) are in 1000-1015. Those are sent as the close frame directly.
"""

from typing import Any

# Codes a server may send that autobahn's sendClose refuses (RFC 6455, IANA registry).
SERVER_CODES = {1001, 1011, 1012, 1013}
# A close frame's payload is at most 125 bytes: 2 of code, the rest for the reason.
REASON_BYTES = 123


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
        code = message.get("code")
        if (
            message.get("type") == "websocket.close"
            and code in SERVER_CODES
            and self.state == self.STATE_OPEN
        ):
            text = None
            if isinstance(reason, str) and reason:  # cut whole characters only
                text = reason.encode()[:REASON_BYTES].decode(errors="ignore").encode()
            self.sendCloseFrame(code=code, reasonUtf8=text, isReply=False)
            return
        if (
            message.get("type") == "websocket.close"
            and isinstance(reason, str)
            and reason
            and self.state == self.STATE_OPEN
        ):
            self.sendClose(code=1000 if code is None else code, reason=reason)
            return
        original(self, message)

    handle_reply.vibegrapher_close_reason = True  # type: ignore[attr-defined]
    WebSocketProtocol.handle_reply = handle_reply
