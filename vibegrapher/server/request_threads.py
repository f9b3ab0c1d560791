"""Django's ASGI handler with request threads that are reused instead of made per request.

Django runs each ASGI request in a `ThreadSensitiveContext`: the sync parts of the
request (middleware, DRF views, the ORM) run on one thread of their own, so that code
relying on thread-locals sees one thread. asgiref makes that thread by creating a
`ThreadPoolExecutor(max_workers=1)` per request and joining it afterwards; thread
creation is then a large share of a quick request's time on the event loop
(bench/README.md), and a new thread also means a new database connection.

Here each request still gets a single-thread executor to itself while it runs (the
same guarantee), but executors come from a free list and go back to it when the
request's sync work ends, so threads (and, with `CONN_MAX_AGE`, their database
connections) live on. At most `REQUEST_THREADS_IDLE` idle executors are kept; beyond
that an executor closes its database connections and stops.

Request threads are daemon threads: a request's sync work still running when the
process stops (a cancelled view, a thread waiting in `async_to_sync` on a loop that has
stopped) must never keep the interpreter from exiting, as `ThreadPoolExecutor`'s
threads do (the interpreter joins them at exit). The graceful shutdown
(vibegrapher/server/shutdown.py) answers and unwinds every request before the loop
stops; this is the guarantee behind it.

At most `REQUEST_THREADS_RUNNING` requests to sync views run at once; the others
wait on the event loop for a turn, holding no thread (`async def` views, which mostly
wait on the loop, take none). Python threads share one interpreter lock, so
twenty requests running at once finish no sooner than two at a time: they only switch
more, and contend for the locks they share (asgiref's `Local`, behind Django's
current time zone and translation). A few running at once still overlap one request's
database wait with another's work.

Those few turns are for quick work. A view whose work can take long (a password
check, a Graphviz layout, a git bundle, a test run) declares a lane
(vibegrapher/server/lanes.py) and its requests take that lane's turns instead, bounded by the
lane's own limits, so that a slow request never holds a turn a quick one needs.

A request crosses to its thread once: `request_started`, the middleware chain and
view, and `request_finished` go together, where Django's handler makes a hand-off
for each (each one a wait for the loop's next turn under load).
"""

import asyncio
import contextlib
import functools
import os
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, NamedTuple, ParamSpec, TypeVar

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, ASGIRequest, get_script_prefix
from django.db import connections
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve, set_script_prefix

from vibegrapher.server.lanes import Lane, LaneBusy, LaneChoice, Lanes, choice_of, lane_for

P = ParamSpec("P")
T = TypeVar("T")


class DaemonThreadExecutor(Executor):
    """One daemon thread running what is submitted, one call at a time, in order.

    What `ThreadPoolExecutor(max_workers=1)` does for a request, except that the
    interpreter does not wait for the thread at exit (see the module's docstring).
    """

    def __init__(
        self, name: str, initializer: Callable[..., object] | None = None, initargs: tuple = ()
    ) -> None:
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._shut = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, args=(initializer, initargs), name=name, daemon=True
        )
        self._thread.start()

    def _run(self, initializer: Callable[..., object] | None, initargs: tuple) -> None:
        if initializer is not None:
            initializer(*initargs)
        while (item := self._work.get()) is not None:
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:
                future.set_exception(exc)
            del future, call, item

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._work.put((future, functools.partial(fn, *args, **kwargs)))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if not self._shut:
                self._shut = True
                self._work.put(None)  # after the work already queued
        if wait and self._thread is not threading.current_thread():
            self._thread.join()


class ExecutorPool:
    """Single-thread executors, each lent to one request at a time."""

    def __init__(self, max_idle: int, name: str = "request", niceness: int = 0) -> None:
        self.max_idle = max_idle
        self.name = name
        self.niceness = niceness
        self._idle: list[DaemonThreadExecutor] = []
        self._lock = threading.Lock()
        self._made = 0

    def take(self) -> DaemonThreadExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self._made += 1
            name = f"{self.name}_{self._made}"
        if self.niceness:
            return DaemonThreadExecutor(name, _lower_priority, (self.niceness,))
        return DaemonThreadExecutor(name)

    def give_back(self, executor: DaemonThreadExecutor) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(executor)
                return
        self.retire(executor)

    def retire(self, executor: DaemonThreadExecutor) -> None:
        """Close the thread's database connections (they belong to it), then stop it.

        Never waits on the loop: queued work (a cancelled request's view still
        running) finishes first.
        """
        executor.submit(connections.close_all)
        executor.shutdown(wait=False)

    def idle(self) -> int:
        return len(self._idle)


class Route(NamedTuple):
    """What the handler needs to know of a path's view before it runs it."""

    is_async: bool
    lane: LaneChoice | None


NO_VIEW = Route(is_async=False, lane=None)


def _lower_priority(niceness: int) -> None:
    """Make the calling thread (on Linux the nice value is per thread) and the processes
    it starts yield the CPU to the fast lane's threads. Only ever raised: a thread
    without privileges cannot lower it again, so such threads serve their lane only."""
    with contextlib.suppress(OSError, AttributeError):
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), max(current, niceness))


def _route(path: str) -> Route:
    # Resolving the URL here as well as in Django was ~4 % of a project GET: the
    # answer is cached per path (the URLconf does not change while the server runs),
    # for paths of a sensible length only, so that odd URLs cannot fill memory.
    if len(path) <= 200:
        return _route_cached(path)
    return _resolve_route(path)


@functools.lru_cache(maxsize=4096)
def _route_cached(path: str) -> Route:
    return _resolve_route(path)


def _resolve_route(path: str) -> Route:
    try:
        match = resolve(path)
    except Resolver404:
        return NO_VIEW
    lane = choice_of(match.func, match.view_name)
    return Route(is_async=iscoroutinefunction(match.func), lane=lane)


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
        self.lanes = Lanes()
        # Each slow lane has threads of its own, at a lower CPU priority.
        self.lane_executors: dict[str, ExecutorPool] = {}
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
            try:
                await asyncio.wait([disconnect, answer], return_when=asyncio.FIRST_COMPLETED)
            finally:
                # Also when this request is cancelled (a graceful shutdown giving up on
                # it, the server stopping): the answer is cancelled and awaited, so the
                # view's work ends while the loop still runs. Left behind, its thread
                # waited in async_to_sync for a loop that had stopped, for ever.
                for task in (disconnect, answer):
                    if not task.done():
                        task.cancel()
                for task in (disconnect, answer):
                    with contextlib.suppress(RequestAborted, asyncio.CancelledError):
                        await task  # cancelled, or the client went away
        finally:
            body_file.close()

    def _executors_of(self, turn: asyncio.Semaphore | Lane | None) -> ExecutorPool:
        if not isinstance(turn, Lane):
            return self.executors
        pool = self.lane_executors.get(turn.name)
        if pool is None:
            pool = self.lane_executors[turn.name] = ExecutorPool(
                max_idle=turn.running, name=f"lane-{turn.name}", niceness=settings.LANE_NICENESS
            )
        return pool

    def _turn_for(self, request: ASGIRequest) -> asyncio.Semaphore | Lane | None:
        """The turn a request waits for: its slow lane's, a fast one, or none.

        A view that declares a lane (vibegrapher/server/lanes.py) takes that lane's turn,
        sync or async: its slow work never holds a fast turn. Otherwise an `async
        def` view (`/health` waits up to its Redis timeout) mostly waits on the loop
        and takes no turn; a sync view takes a fast turn for its sync work only.
        """
        route = _route(request.path_info)
        lane = lane_for(route.lane, request)
        if lane is not None:
            return self.lanes.get(lane)
        return None if route.is_async else self._turn()

    async def _answer(self, request: ASGIRequest, send: Any) -> None:
        turn = self._turn_for(request)
        if turn is not None:
            try:
                await turn.acquire()
            except LaneBusy as busy:
                await self.send_response(busy.response(request), send)
                return
        executors = self._executors_of(turn)
        try:
            executor = executors.take()
        except BaseException:
            if turn is not None:
                turn.release()
            raise
        try:
            # asgiref refuses thread-sensitive calls from tasks that outlive a context
            # with its own executor: background work starts in a fresh context
            # (vibegrapher/lib/background.py), so nothing of a request outlives it.
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
            executors.retire(executor)
            raise
        executors.give_back(executor)
        if not response.streaming:
            await self.send_response(response, send)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)
