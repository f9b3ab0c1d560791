"""Say why a browser's CORS preflight was refused.

django-cors-headers answers a preflight from an origin it does not know with a plain
200 and no `Access-Control-Allow-Origin`; the browser then reports only "blocked by
CORS policy". This middleware (just outside CorsMiddleware) adds `X-CORS-Refused`
naming the setting to change to such answers, and logs it once per origin.
"""

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

HINT_HEADER = "X-CORS-Refused"
_warned: set[str] = set()


def refusal_hint(origin: str) -> str:
    return (
        f"Origin {origin} is not in CORS_ALLOWED_ORIGINS; set "
        f"CORS_ALLOWED_ORIGINS={origin} (comma-separated) in the server's environment."
    )


class CorsRefusalHint:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        origin = request.headers.get("Origin")
        preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in (
            request.headers
        )
        if preflight and origin and "Access-Control-Allow-Origin" not in response:
            hint = refusal_hint(origin)
            response[HINT_HEADER] = hint
            if origin not in _warned and len(_warned) < 100:
                _warned.add(origin)
                logger.warning("CORS preflight to %s refused: %s", request.path, hint)
        return response
