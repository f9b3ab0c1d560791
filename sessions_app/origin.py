"""The WebSocket's Origin check, for the connections it protects: cookie ones.

A browser sends its session cookie with any page's WebSocket, so a cookie connection
must come from one of ALLOWED_HOSTS (cross-site WebSocket hijacking). A `?token=`
connection carries its credential in the URL, which another site cannot know: it
needs no Origin, and most non-browser clients (Python's websockets, CLI and mobile
clients) send none.
"""

from typing import Any
from urllib.parse import parse_qs

from channels.security.websocket import AllowedHostsOriginValidator


def query_token(scope: dict[str, Any]) -> str | None:
    """The `?token=` of a WebSocket's URL, or None (then the cookie authenticates)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    tokens = query.get("token")
    return tokens[0] if tokens else None


class CookieOriginValidator:
    """Channels' AllowedHostsOriginValidator for cookie connections only."""

    def __init__(self, application: Any) -> None:
        self.application = application
        self.checked = AllowedHostsOriginValidator(application)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if query_token(scope) is not None:
            return await self.application(scope, receive, send)
        return await self.checked(scope, receive, send)
