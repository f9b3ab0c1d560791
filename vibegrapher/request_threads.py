"""Django's ASGI handler with request threads that are reused instead of made per request.

Django runs each ASGI request in a `ThreadSensitiveContext`: the sync parts of the
request (middleware, DRF views, the ORM) run on one thread of their own, so that code
relying on thread-locals sees one thread. asgiref makes that thread by creating a
`ThreadPoolExecutor(max_workers=1)` per request and joining it afterwards; on the
2-core development machine thread creation alone was about half of the event loop's
time per `GET /api/projects`, and a new thread also means a new database connection.

Here each request still gets a single-thread executor to itself for its whole
duration (the same guarantee), but executors come from a free list and go back to it
when the request ends, so threads (and, with `CONN_MAX_AGE`, their database
connections) live on. At most `REQUEST_THREADS_IDLE` idle executors are kept; beyond
that an executor closes its database connections and stops.

At most `REQUEST_THREADS_RUNNING` requests to sync views run at once; the others
wait on the event loop for a turn (`async def` views, which mostly wait on the loop,
take none). Python threads share one interpreter lock, so
twenty requests running at once finish no sooner than two at a time: they only switch
more, and contend for the locks they share (asgiref's `Local`, behind Django's
current time zone and translation, took more than half of the request threads' time
at 20 concurrent list requests). A few running at once still overlap one request's
database wait with another's work.
"""

import asyncio
import functools
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.db import connections
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve


class ExecutorPool:
    """Single-thread executors, each lent to one request at a time."""

    def __init__(self, max_idle: int) -> None:
        self.max_idle = max_idle
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()

    def take(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(executor)
                return
        self.retire(executor)

    def retire(self, executor: ThreadPoolExecutor) -> None:
        """Close the thread's database connections (they belong to it), then stop it.

        Never waits on the loop: queued work (a cancelled request's view still
        running) finishes first.
        """
        executor.submit(connections.close_all)
        executor.shutdown(wait=False)

    def idle(self) -> int:
        return len(self._idle)


def _is_async_view(path: str) -> bool:
    # Resolving the URL here as well as in Django was ~4 % of a project GET: the
    # answer is cached per path (the URLconf does not change while the server runs),
    # for paths of a sensible length only, so that odd URLs cannot fill memory.
    if len(path) <= 200:
        return _is_async_view_cached(path)
    return _resolves_to_async_view(path)


@functools.lru_cache(maxsize=4096)
def _is_async_view_cached(path: str) -> bool:
    return _resolves_to_async_view(path)


def _resolves_to_async_view(path: str) -> bool:
    try:
        return iscoroutinefunction(resolve(path).func)
    except Resolver404:
        return False


class PooledThreadASGIHandler(ASGIHandler):
    """Each request: one hop to its thread, the whole middleware chain and view there.

    Django's async handler runs an async-capable middleware (most of Django's) on the
    event loop and hands each of its `process_request`/`process_response` hooks to
    the request's thread and back, and a sync-only middleware (WhiteNoise) bridges
    back again: a dozen thread hand-offs for one sync DRF view. This handler builds
    the chain as under WSGI (all sync) and runs it with one `sync_to_async`. An
    `async def` view (those that start runs) is then run by asgiref on the server's
    event loop, as before, so its tasks still live on that loop.
    """

    def __init__(self) -> None:
        super().__init__()
        self.executors = ExecutorPool(max_idle=settings.REQUEST_THREADS_IDLE)
        # One semaphore per event loop (tests run several loops in one process).
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _turn(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        turn = self._turns.get(loop)
        if turn is None:
            turn = self._turns[loop] = asyncio.Semaphore(settings.REQUEST_THREADS_RUNNING)
        return turn

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        get_response = sync_to_async(self.get_response, thread_sensitive=True)
        if _is_async_view(request.path_info):
            # Mostly waits on the loop (`/health` up to its Redis timeout): no turn.
            return await get_response(request)
        # The turn covers the sync part only, not the sending of the response.
        async with self._turn():
            return await get_response(request)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.executors.take()
        try:
            # asgiref refuses thread-sensitive calls from tasks that outlive a context
            # with its own executor: background work starts in a fresh context
            # (vibegrapher/background.py), so nothing of a request outlives it.
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        except BaseException:
            # Cancelled or failed: the request's sync work may still be running on the
            # thread. Never lend it to another request; let it finish and stop.
            self.executors.retire(executor)
            raise
        self.executors.give_back(executor)
