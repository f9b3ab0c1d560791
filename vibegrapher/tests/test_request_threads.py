"""Requests reuse their threads instead of starting one each (vibegrapher/request_threads.py)."""

import threading

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
