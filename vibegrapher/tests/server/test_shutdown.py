"""A graceful shutdown answers the requests in flight (vibegrapher/server/shutdown.py).

In one process, through the real handler: an `async def` view runs on the loop from
its request thread (`async_to_sync`), the path on which a request at SIGTERM once
left its thread waiting for ever on a loop that had stopped.
"""

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import path

from vibegrapher.server import draining, shutdown
from vibegrapher.server.request_threads import PooledThreadASGIHandler
from vibegrapher.tests.server.asgi_requests import asgi_request

ROOT = Path(__file__).resolve().parents[3]
started = threading.Event()
unwound = threading.Event()


async def slow_view(request: HttpRequest, seconds: str) -> HttpResponse:
    started.set()
    try:
        await asyncio.sleep(float(seconds))
    except asyncio.CancelledError:
        unwound.set()
        raise
    return HttpResponse("finished")


urlpatterns = [path("slow/<str:seconds>", slow_view)]


@pytest.fixture(autouse=True)
def _urls(settings: Any) -> Iterator[None]:
    settings.ROOT_URLCONF = __name__
    started.clear()
    unwound.clear()
    shutdown.reset()
    yield
    shutdown.reset()


def _request_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("request")]


async def _request(app: Any, seconds: float) -> tuple[int, dict[bytes, bytes], bytes]:
    return await asgi_request(app, f"/slow/{seconds}", wait=10)


async def _in_flight(app: Any, seconds: float = 60) -> "asyncio.Task[tuple[int, Any, bytes]]":
    answer = asyncio.ensure_future(_request(app, seconds))
    for _ in range(200):
        if started.is_set():
            return answer
        await asyncio.sleep(0.01)
    raise AssertionError("the view never started")


async def test_a_request_awaiting_async_work_at_shutdown_is_answered_503_and_unwinds(
    settings: Any,
) -> None:
    # 0.5 s for requests to finish, then the 503.
    settings.SHUTDOWN_GRACE_SECONDS = shutdown.CLOSING_SECONDS + 0.5
    app = draining.TrackRequests(PooledThreadASGIHandler())
    answer = await _in_flight(app)

    await asyncio.wait_for(shutdown.graceful(None), 5)
    status, headers, body = await asyncio.wait_for(answer, 5)

    assert status == 503
    assert headers[b"retry-after"] == str(draining.RETRY_AFTER_SECONDS).encode()
    assert headers[b"connection"] == b"close"
    assert b"server is restarting" in body
    # The view was cancelled while the loop ran, and its thread left async_to_sync:
    # nothing waits on a loop that will stop.
    assert unwound.is_set()
    assert draining.in_flight() == 0
    # And request threads never keep the interpreter from exiting.
    assert all(thread.daemon for thread in _request_threads())


async def test_a_request_that_finishes_within_the_grace_period_gets_its_answer(
    settings: Any,
) -> None:
    settings.SHUTDOWN_GRACE_SECONDS = shutdown.CLOSING_SECONDS + 5
    app = draining.TrackRequests(PooledThreadASGIHandler())
    answer = await _in_flight(app, 0.3)

    await asyncio.wait_for(shutdown.graceful(None), 5)
    status, headers, body = await asyncio.wait_for(answer, 5)

    assert (status, body) == (200, b"finished")
    assert headers[b"connection"] == b"close"  # the client reconnects elsewhere
    assert not unwound.is_set()


async def test_requests_after_the_grace_period_are_answered_503_at_once(settings: Any) -> None:
    settings.SHUTDOWN_GRACE_SECONDS = shutdown.CLOSING_SECONDS
    app = draining.TrackRequests(PooledThreadASGIHandler())
    await shutdown.graceful(None)

    status, headers, _ = await _request(app, 0)

    assert status == 503
    assert b"retry-after" in headers
    assert not started.is_set()


async def test_a_503_of_the_app_while_draining_gets_retry_after() -> None:
    async def refusing(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})

    draining.begin()
    status, headers, _ = await asgi_request(draining.TrackRequests(refusing), "/x")  # type: ignore[arg-type]

    assert status == 503
    assert headers[b"retry-after"] == str(draining.RETRY_AFTER_SECONDS).encode()


WEDGED = """
import os, threading, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibegrapher.settings")
import django
django.setup()
from vibegrapher.server import shutdown
# A thread the interpreter would wait for at exit, for ever.
threading.Thread(target=time.sleep, args=(3600,), name="wedged").start()
shutdown.start_watchdog(0.5)
"""


def test_the_watchdog_ends_a_process_that_a_thread_would_keep_alive() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", WEDGED],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started

    assert done.returncode == 1
    assert "shutdown took over SHUTDOWN_GRACE_SECONDS" in done.stderr
    assert "wedged" in done.stderr  # named, with the threads' stacks
    assert took < 30  # interpreter and Django start-up included; not the hour
