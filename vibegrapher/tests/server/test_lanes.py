"""Slow requests take their lane's turns, never the fast lane's (vibegrapher/server/lanes.py)."""

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import path

from vibegrapher.server.lanes import in_lane, lane_for
from vibegrapher.server.request_threads import PooledThreadASGIHandler, _route, _route_cached
from vibegrapher.tests.server.asgi_requests import asgi_request

RELEASE = threading.Event()
NICENESS: dict[str, int] = {}


def _fast(request: HttpRequest) -> HttpResponse:
    NICENESS["fast"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    return HttpResponse("fast")


@in_lane("slow")
def _slow(request: HttpRequest) -> HttpResponse:
    NICENESS["slow"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    RELEASE.wait(20)
    return HttpResponse("slow")


urlpatterns = [path("lanes-test/fast", _fast), path("lanes-test/slow", _slow)]


@pytest.fixture
def lanes(settings: Any) -> Iterator[None]:
    settings.ROOT_URLCONF = __name__
    settings.REQUEST_THREADS_RUNNING = 1
    settings.REQUEST_LANES = {"slow": 1}
    settings.LANE_WAITING = 1
    settings.LANE_WAIT_SECONDS = 20.0
    _route_cached.cache_clear()
    RELEASE.clear()
    yield
    RELEASE.set()
    _route_cached.cache_clear()


async def _until_running(handler: PooledThreadASGIHandler) -> None:
    for _ in range(200):
        if "slow" in NICENESS:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the slow view never started")


async def test_a_slow_request_holds_no_turn_of_the_fast_lane(lanes: None) -> None:
    NICENESS.clear()
    handler = PooledThreadASGIHandler()
    slow = asyncio.ensure_future(asgi_request(handler, "/lanes-test/slow"))
    await _until_running(handler)
    # One fast turn only, and the slow view is running: the fast one still gets it.
    status, _, body = await asgi_request(handler, "/lanes-test/fast")
    assert (status, body) == (200, b"fast")
    assert not slow.done()
    RELEASE.set()
    assert (await slow)[0] == 200


async def test_beyond_the_waiting_limit_a_slow_request_is_answered_503_at_once(
    lanes: None,
) -> None:
    NICENESS.clear()
    handler = PooledThreadASGIHandler()
    running = asyncio.ensure_future(asgi_request(handler, "/lanes-test/slow"))
    await _until_running(handler)
    waiting = asyncio.ensure_future(asgi_request(handler, "/lanes-test/slow"))
    await asyncio.sleep(0.2)
    status, headers, body = await asgi_request(handler, "/lanes-test/slow")
    assert status == 503
    assert headers[b"Retry-After"] == b"5"
    assert b"1 requests are waiting already" in body and b"try again in 5 seconds" in body
    assert not running.done() and not waiting.done()
    RELEASE.set()
    assert [(await running)[0], (await waiting)[0]] == [200, 200]


async def test_a_slow_request_that_waits_past_the_limit_is_answered_503(
    lanes: None, settings: Any
) -> None:
    NICENESS.clear()
    settings.LANE_WAIT_SECONDS = 0.3
    handler = PooledThreadASGIHandler()
    running = asyncio.ensure_future(asgi_request(handler, "/lanes-test/slow"))
    await _until_running(handler)
    status, headers, body = await asgi_request(handler, "/lanes-test/slow")
    assert status == 503 and b"Retry-After" in headers
    assert b"no turn came within 0.3 seconds" in body
    assert not running.done()
    RELEASE.set()
    assert (await running)[0] == 200


async def test_a_slow_lane_runs_on_threads_of_its_own_at_a_lower_priority(
    lanes: None, settings: Any
) -> None:
    NICENESS.clear()
    RELEASE.set()
    handler = PooledThreadASGIHandler()
    assert (await asgi_request(handler, "/lanes-test/slow"))[0] == 200
    assert (await asgi_request(handler, "/lanes-test/fast"))[0] == 200
    assert NICENESS["slow"] >= settings.LANE_NICENESS > NICENESS["fast"]
    assert handler.executors.idle() == 1  # the fast lane's thread, not the slow one's
    assert handler.lane_executors["slow"].idle() == 1


ID = uuid.uuid4()


@pytest.mark.parametrize(
    ("method", "url", "lane"),
    [
        ("POST", "/api/auth/token", "password"),
        ("DELETE", "/api/auth/token", None),
        ("POST", "/login/", "password"),
        ("GET", "/login/", None),
        ("POST", "/admin/login/", "password"),
        ("POST", "/admin/password_change/", "password"),
        ("POST", "/admin/auth/user/1/password/", "password"),
        ("GET", f"/api/projects/{ID}/graph?format=svg", "graph"),
        ("GET", f"/api/diffs/{ID}/graph?format=svg", "graph"),
        ("GET", f"/projects/{ID}/", "graph"),
        ("GET", f"/diffs/{ID}/", "graph"),
        ("GET", f"/api/projects/{ID}/export", "export"),
        ("POST", f"/api/projects/{ID}/tests/run", "tests"),
        ("POST", f"/api/diffs/{ID}/review", "model"),
        ("POST", f"/api/diffs/{ID}/refine-message", "model"),
        ("GET", f"/api/projects/{ID}", None),
        ("GET", "/api/projects", None),
        ("GET", "/", None),
    ],
)
def test_every_slow_request_of_the_app_is_in_a_slow_lane(
    method: str, url: str, lane: str | None, settings: Any
) -> None:
    request = RequestFactory().generic(method, url)
    chosen = lane_for(_route(request.path_info).lane, request)
    assert chosen == lane
    assert chosen is None or chosen in settings.REQUEST_LANES
