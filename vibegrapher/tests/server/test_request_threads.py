"""Requests reuse their threads instead of starting one each
(vibegrapher/server/request_threads.py)."""

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import signals
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path

from vibegrapher.server.request_threads import PooledThreadASGIHandler
from vibegrapher.tests.server.asgi_requests import asgi_request


async def _get(handler: PooledThreadASGIHandler, path: str) -> int:
    start, _ = await _get_with_body(handler, path)
    return start


async def _get_with_body(handler: PooledThreadASGIHandler, path: str) -> tuple[int, bytes]:
    status, _, body = await asgi_request(handler, path, wait=10)
    return status, body


def _request_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name.startswith("request")}


async def test_sequential_requests_reuse_one_thread() -> None:
    handler = PooledThreadASGIHandler()
    assert await _get(handler, "/no-such-page") == 404
    # Request threads only: other tests' background threads may start or end meanwhile.
    before = _request_threads()
    for _ in range(20):
        assert await _get(handler, "/no-such-page") == 404
    assert _request_threads() - before == set()
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


async def test_requests_waiting_for_a_turn_hold_no_thread(settings: Any) -> None:
    # Twelve at once, one turn: one thread serves them all, none is started per request.
    settings.REQUEST_THREADS_RUNNING = 1
    handler = PooledThreadASGIHandler()
    statuses = await asyncio.gather(*(_get(handler, "/no-such-page") for _ in range(12)))
    assert statuses == [404] * 12
    assert handler.executors.idle() == 1


async def test_a_request_starts_and_finishes_once_on_its_own_thread() -> None:
    # Django's connection clean-up (request_started/finished) must run on the thread
    # that used the connections, once per request.
    seen: list[tuple[str, int]] = []

    def started(**kwargs: Any) -> None:
        seen.append(("started", threading.get_ident()))

    def finished(**kwargs: Any) -> None:
        seen.append(("finished", threading.get_ident()))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        assert await _get(PooledThreadASGIHandler(), "/no-such-page") == 404
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert [name for name, _ in seen] == ["started", "finished"]
    assert seen[0][1] == seen[1][1] != threading.get_ident()


def _streamed(request: HttpRequest) -> StreamingHttpResponse:
    def parts() -> Iterator[bytes]:
        STREAMED.append(threading.get_ident())
        yield b"first "
        yield b"second"

    return StreamingHttpResponse(parts())


STREAMED: list[int] = []
urlpatterns = [path("streamed", _streamed)]


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
async def test_a_streamed_answer_is_read_on_its_thread_sent_whole_and_closed(
    settings: Any,
) -> None:
    # Static files stream (WhiteNoise): read on the request's thread as they are sent.
    settings.ROOT_URLCONF = __name__
    finished: list[int] = []

    def on_finished(**kwargs: Any) -> None:
        finished.append(threading.get_ident())

    signals.request_finished.connect(on_finished)
    try:
        status, body = await _get_with_body(PooledThreadASGIHandler(), "/streamed")
    finally:
        signals.request_finished.disconnect(on_finished)
    assert (status, body) == (200, b"first second")
    assert finished == STREAMED != [threading.get_ident()]
