"""ASGI entry point: HTTP goes to Django, WebSocket to the Channels URL router."""

import gc
import logging
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibegrapher.settings")

# Django must be set up before anything imports models (the consumers do).
django.setup(set_prefix=False)

from vibegrapher.request_threads import PooledThreadASGIHandler  # noqa: E402

# Django's ASGI handler, with request threads reused instead of made per request.
django_asgi_app = PooledThreadASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from agents_app.runs import mark_interrupted_runs  # noqa: E402
from reviews.diff_tests import recover_after_restart  # noqa: E402
from sessions_app.routing import websocket_urlpatterns  # noqa: E402
from vibegrapher.body_limit import BodySizeLimit  # noqa: E402

# Runs left "running" by a process that died are "interrupted" from now on. A database
# that is not migrated yet (or not reachable at import) must not stop the server.
try:
    mark_interrupted_runs()
except Exception as exc:
    logging.getLogger(__name__).warning("start-up sweep of interrupted runs skipped: %s", exc)
recover_after_restart()  # test runs of dead processes: never raises

application = ProtocolTypeRouter(
    {
        # Bodies over their URL's limit are refused before Django buffers them.
        "http": BodySizeLimit(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# What start-up created (Django, the Agents SDK, their modules and classes) lives as
# long as the process. Freezing it keeps the cyclic collector from re-scanning it on
# every full collection, which otherwise pauses the event loop for ~150 ms about once
# a second under load (see bench/ws_fanout.py).
gc.freeze()
