"""Latency of one async API request: the hand-made async stack against adrf.

The same view (`GET /api/sessions/{id}/messages`, 20 messages, token auth) served
two ways in one process, through Django's pooled-thread ASGI handler and httpx's
in-process ASGI transport (no sockets: what differs is the view stack only):

- `hand-made`: the stack the app had before (`bench/handmade_async_api.py`, a frozen
  copy: one `afind_token` query, JSON parsing and DRF-shaped errors by hand);
- `adrf`: the app's view now, `adrf.views.APIView` with an `async def get`: DRF's
  authenticators, permissions and throttles run in `sync_to_async(self.initial)`,
  and the DRF `Response` is rendered by Django in another `sync_to_async` hop.

Requests alternate between the two; prints the median and p90 of each.

Usage: .venv/bin/python bench/async_views.py [--requests 400]
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = tempfile.mkdtemp(prefix="vg-async-views-")
os.environ.update(
    DJANGO_SETTINGS_MODULE="vibegrapher.settings",
    DEBUG="false",
    SECRET_KEY="bench-only-secret-key-bench-only-secret-key-bench-only",
    ALLOWED_HOSTS="testserver",
    DATABASE_URL=f"sqlite:///{WORKDIR}/db.sqlite3",
    MEDIA_ROOT=f"{WORKDIR}/media",
)

import django  # noqa: E402

django.setup()

import uuid  # noqa: E402

import httpx  # noqa: E402
from asgiref.sync import sync_to_async  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.urls import include, path  # noqa: E402
from rest_framework.request import Request  # noqa: E402

from bench.handmade_async_api import async_api_view  # noqa: E402
from sessions_app import services  # noqa: E402
from sessions_app.views import messages_page  # noqa: E402
from vibegrapher.server.request_threads import PooledThreadASGIHandler  # noqa: E402


@async_api_view("GET")
async def handmade_messages(
    request: HttpRequest, user: User, session_id: uuid.UUID
) -> HttpResponse:
    session = await services.owned_sessions(user).aget(id=session_id)
    drf_request = Request(request)  # only for its query_params, as the page reads them
    return JsonResponse(await sync_to_async(messages_page)(drf_request, session))


urlpatterns = [
    path("handmade/sessions/<uuid:session_id>/messages", handmade_messages),
    path("", include("vibegrapher.urls")),
]


def setup() -> tuple[str, str]:
    from accounts.tokens import create_token
    from projects.services import create_project
    from sessions_app.models import ConversationMessage, VibecodeSession

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password="bench-pass-1")
    project = create_project(user, "Bench", None)
    session = VibecodeSession.objects.create(project=project)
    for n in range(20):
        ConversationMessage.objects.create(
            session=session, role="user", agent="human", content=f"message {n} " * 20
        )
    return create_token(user), str(session.id)


async def measure(requests: int, token: str, session_id: str) -> dict[str, list[float]]:
    transport = httpx.ASGITransport(app=PooledThreadASGIHandler())
    headers = {"Authorization": f"Token {token}"}
    paths = {
        "hand-made": f"/handmade/sessions/{session_id}/messages",
        "adrf": f"/api/sessions/{session_id}/messages",
    }
    timings: dict[str, list[float]] = {name: [] for name in paths}
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        for name, url in paths.items():  # warm-up, and both answer the same
            first = await client.get(url, headers=headers)
            assert first.status_code == 200, (name, first.status_code, first.text[:300])
            assert first.json() == (await client.get(paths["hand-made"], headers=headers)).json(), (
                name
            )
        for _ in range(requests):
            for name, url in paths.items():
                started = time.perf_counter()
                response = await client.get(url, headers=headers)
                timings[name].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    settings.ROOT_URLCONF = sys.modules[__name__]
    token, session_id = setup()
    timings = asyncio.run(measure(args.requests, token, session_id))
    print(f"GET messages (20), token auth, {args.requests} requests each, alternated")
    print(f"{'stack':<10} {'median ms':>10} {'p90 ms':>8}")
    for name, values in timings.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:<10} {statistics.median(values):>10.2f} {p90:>8.2f}")


if __name__ == "__main__":
    main()
