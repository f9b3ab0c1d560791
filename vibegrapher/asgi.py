"""ASGI entry point: HTTP goes to Django, WebSocket to the Channels URL router."""

import gc
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibegrapher.settings")

# Django must be set up before anything imports models (the consumers do).
django.setup(set_prefix=False)

from vibegrapher.server.request_threads import PooledThreadASGIHandler  # noqa: E402

# Django's ASGI handler, with request threads reused instead of made per request.
django_asgi_app = PooledThreadASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.db import connections  # noqa: E402

from agents_app.runs import mark_interrupted_runs  # noqa: E402
from projects.services import reconcile_all  # noqa: E402
from sessions_app.origin import CookieOriginValidator  # noqa: E402
from sessions_app.routing import websocket_urlpatterns  # noqa: E402
from testruns import jobs as sandbox_jobs  # noqa: E402
from testruns.diff_tests import recover_after_restart  # noqa: E402
from testruns.sandbox import warm as sandbox_warm  # noqa: E402
from trials.runs import recover_after_restart as recover_trials  # noqa: E402
from vibegrapher.server import shutdown  # noqa: E402
from vibegrapher.server.body_limit import BodySizeLimit  # noqa: E402
from vibegrapher.server.draining import TrackRequests  # noqa: E402
from vibegrapher.server.http_refusals import install as install_http_refusals  # noqa: E402


def _sweep_interrupted_runs() -> None:
    try:
        mark_interrupted_runs()
    finally:
        connections.close_all()


# Runs whose server stopped answering (stale heartbeat) are "interrupted" from now on;
# live runs of other processes are left alone. In a thread of its own, closing its
# connection after. A database that is not migrated yet (or not reachable at import)
# must not stop the server.
try:
    with ThreadPoolExecutor(1) as sweep:
        sweep.submit(_sweep_interrupted_runs).result()
except Exception as exc:
    logging.getLogger(__name__).warning("start-up sweep of interrupted runs skipped: %s", exc)
recover_after_restart()  # test runs of dead processes: never raises
recover_trials()  # trials whose process went silent: never raises
# Sandboxes with the Agents SDK imported, for the first quick test (in the background);
# none in a web process that sends its sandboxed jobs to the workers (SANDBOX_JOBS=queue).
if sandbox_jobs.runs_here():
    sandbox_warm.start()
else:
    threading.Thread(target=sandbox_jobs.prepare, name="sandbox-queue", daemon=True).start()
# Commits that a crash left in git but not in the rows are recorded (git is the record).
try:
    reconcile_all()
except Exception as exc:
    logging.getLogger(__name__).warning("start-up reconciliation skipped: %s", exc)

# What daphne refuses itself (a path over 16 KB, malformed HTTP) is answered in JSON.
install_http_refusals()

# SIGTERM: requests in flight finish (or are answered 503), runs end (interrupted, with
# run_finished), sockets close with 1012, within SHUTDOWN_GRACE_SECONDS.
shutdown.install()

application = ProtocolTypeRouter(
    {
        # Requests in flight are kept, for a graceful shutdown; bodies over their URL's
        # limit are refused before Django buffers them.
        "http": TrackRequests(BodySizeLimit(django_asgi_app)),
        # The Origin is checked for cookie connections; `?token=` ones need none.
        "websocket": CookieOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# What start-up created (Django, the Agents SDK, their modules and classes) lives as
# long as the process. Freezing it keeps the cyclic collector from re-scanning it on
# every full collection, which otherwise pauses the event loop for ~150 ms about once
# a second under load (see bench/ws_fanout.py).
gc.freeze()
