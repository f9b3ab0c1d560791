"""Django's ASGI handler with request threads that are reused instead of made per request.

Django runs each ASGI request in a `ThreadSensitiveContext`: the sync parts of the
request (middleware, DRF views, the ORM) run on one thread of their own, so that code
relying on thread-locals sees one thread. asgiref makes that thread by creating a
`ThreadPoolExecutor(max_workers=1)` per request and joining it afterwards; on the
2-core development machine thread creation alone was about half of the event loop's
time per `GET /api/projects`, and a new thread also means a new database connection.

Here each request still gets a single-thread executor to itself while it runs (the
same guarantee), but executors come from a free list and go back to it when the
request's sync work ends, so threads (and, with `CONN_MAX_AGE`, their database
connections) live on. At most `REQUEST_THREADS_IDLE` idle executors are kept; beyond
that an executor closes its database connections and stops.

At most `REQUEST_THREADS_RUNNING` requests to sync views run at once; the others
wait on the event loop for a turn, holding no thread (`async def` views, which mostly
wait on the loop, take none). Python threads share one interpreter lock, so
twenty requests running at once finish no sooner than two at a time: they only switch
more, and contend for the locks they share (asgiref's `Local`, behind Django's
current time zone and translation, took more than half of the request threads' time
at 20 concurrent list requests). A few running at once still overlap one request's
database wait with another's work.

A request crosses to its thread once: `request_started`, the middleware chain and
view, and `request_finished` go together, where Django's handler makes a hand-off
for each (each one a wait for the loop's next turn under load).
"""

import asyncio
import contextlib
import functools
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, ASGIRequest, get_script_prefix
from django.db import connections
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve, set_script_prefix


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

    def _respond(self, request: ASGIRequest) -> HttpResponseBase:
        """On the request's thread: the request starts, is answered and, unless the
        answer streams, finishes (`request_finished`: its body is in memory already)."""
        signals.request_started.send(sender=self.__class__, scope=request.scope)
        response = self.get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        if not response.streaming:
            response.close()
        return response

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        """Django's `ASGIHandler.handle`, with the request's sync work in one hand-off.

        Django hands `request_started`, the response and `response.close()` to the
        request's thread one by one; here they go together (`_respond`), and a request
        holds a thread only while it runs, not while it waits for a turn. As in
        Django, a client that disconnects cancels the request's task.
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            set_script_prefix(get_script_prefix(scope))
            request, error_response = self.create_request(scope, body_file)
            if request is None:  # undecodable or too big: answered before any view
                assert error_response is not None
                await self.send_response(error_response, send)
                return
            disconnect = asyncio.create_task(self.listen_for_disconnect(receive))
            answer = asyncio.create_task(self._answer(request, send))
            await asyncio.wait([disconnect, answer], return_when=asyncio.FIRST_COMPLETED)
            for task in (disconnect, answer):
                if not task.done():
                    task.cancel()
                with contextlib.suppress(RequestAborted, asyncio.CancelledError):
                    await task  # cancelled, or the client went away
        finally:
            body_file.close()

    async def _answer(self, request: ASGIRequest, send: Any) -> None:
        # An `async def` view (`/health` waits up to its Redis timeout) mostly waits on
        # the loop: it takes no turn. A sync view's turn covers its sync work only.
        turn = None if _is_async_view(request.path_info) else self._turn()
        if turn is not None:
            await turn.acquire()
        try:
            executor = self.executors.take()
        except BaseException:
            if turn is not None:
                turn.release()
            raise
        try:
            # asgiref refuses thread-sensitive calls from tasks that outlive a context
            # with its own executor: background work starts in a fresh context
            # (vibegrapher/background.py), so nothing of a request outlives it.
            async with ThreadSensitiveContext(executor=executor):
                try:
                    response = await sync_to_async(self._respond, thread_sensitive=True)(request)
                finally:
                    if turn is not None:
                        turn.release()
                if response.streaming:  # a file: read on the request's thread as it goes
                    try:
                        await self.send_response(response, send)
                    finally:
                        await sync_to_async(response.close, thread_sensitive=True)()
        except BaseException:
            # Cancelled or failed: the request's sync work may still be running on the
            # thread. Never lend it to another request; let it finish and stop.
            self.executors.retire(executor)
            raise
        self.executors.give_back(executor)
        if not response.streaming:
            await self.send_response(response, send)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)
