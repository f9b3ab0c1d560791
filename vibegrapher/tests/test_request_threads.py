"""Requests reuse their threads instead of starting one each (vibegrapher/request_threads.py)."""

import asyncio
import threading
from typing import Any

from asgiref.testing import ApplicationCommunicator

from vibegrapher.request_threads import PooledThreadASGIHandler


async def _get(handler: PooledThreadASGIHandler, path: str) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    communicator = ApplicationCommunicator(handler, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(10)
    await communicator.receive_output(10)  # the body
    await communicator.wait(10)
    return int(start["status"])


async def test_sequential_requests_reuse_one_thread() -> None:
    handler = PooledThreadASGIHandler()
    assert await _get(handler, "/no-such-page") == 404
    threads = threading.active_count()
    for _ in range(20):
        assert await _get(handler, "/no-such-page") == 404
    assert threading.active_count() == threads
    assert handler.executors.idle() == 1


async def test_idle_threads_beyond_the_limit_are_stopped() -> None:
    handler = PooledThreadASGIHandler()
    handler.executors.max_idle = 0
    for _ in range(3):
        assert await _get(handler, "/no-such-page") == 404
    assert handler.executors.idle() == 0


async def test_concurrent_requests_beyond_the_running_limit_are_all_answered(
    settings: Any,
) -> None:
    # One turn: the others wait on the loop, none is refused or lost.
    settings.REQUEST_THREADS_RUNNING = 1
    handler = PooledThreadASGIHandler()
    statuses = await asyncio.gather(*(_get(handler, "/no-such-page") for _ in range(12)))
    assert statuses == [404] * 12


async def test_sync_views_wait_for_a_turn_and_async_views_do_not(settings: Any) -> None:
    settings.REQUEST_THREADS_RUNNING = 1
    handler = PooledThreadASGIHandler()
    turn = handler._turn()
    await turn.acquire()  # every turn taken, as by a slow sync view
    try:
        # `/health` is an `async def` view: it answers (503 here: no database access).
        assert await _get(handler, "/health") in (200, 503)
        waiting = asyncio.ensure_future(_get(handler, "/no-such-page"))
        await asyncio.sleep(0.3)
        assert not waiting.done()
    finally:
        turn.release()
    assert await waiting == 404
