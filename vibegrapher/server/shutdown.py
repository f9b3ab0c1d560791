"""Graceful shutdown under daphne: on SIGTERM or SIGINT, nothing in flight is dropped.

Daphne has no ASGI lifespan events; on SIGTERM/SIGINT it stops Twisted's reactor,
whose "before shutdown" triggers run (daphne's own cancels every connection's
application at once, without an answer), and then the asyncio loop simply stops:
pending tasks are dropped, not cancelled, and a request thread waiting in
`async_to_sync` for one of them waits for ever. So the signals are taken over here
once the reactor runs. The first one starts this sequence, bounded by
`SHUTDOWN_GRACE_SECONDS` from the signal:

1. The process stops accepting connections (the ones the kernel has queued already
   are accepted first, then the listening socket is closed: a new connection goes to
   another process or machine), and gives those it accepted last `SETTLE_SECONDS` to
   send their request. Responses from now on carry `Connection: close`.
2. At the same time: the requests in flight get until `SHUTDOWN_GRACE_SECONDS -
   CLOSING_SECONDS` to finish (vibegrapher/server/draining.py), and the work the apps
   registered (`register`, from their `AppConfig.ready`) runs: agents_app ends every
   run (`interrupted`, `run_finished` to every browser, within `RUN_SHUTDOWN_SECONDS`),
   testruns lets diff test runs finish or stores what is left as errors.
3. Requests still unfinished are answered 503 with `Retry-After` ("the server is
   restarting") and cancelled; their handling unwinds while the loop still runs.
4. The closing work the apps registered (`register_closing`) runs: sessions_app
   closes every WebSocket with 1012 (service restart), so pages reconnect elsewhere.
5. The reactor stops (daphne's own trigger then finds nothing left to cancel).

A watchdog ends the process at `SHUTDOWN_GRACE_SECONDS` whatever still runs (a
request thread in a long sync call, a stuck trigger), and request threads are daemon
threads (vibegrapher/server/request_threads.py): the process always exits within the
grace period. A second signal stops the reactor at once. A "before shutdown" trigger
runs the same sequence (without the reactor stop) for any other way the reactor stops.
"""

import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from django.conf import settings

from vibegrapher.server import draining

logger = logging.getLogger(__name__)

# What the apps do before the process stops, in the order they registered.
ShutdownWork = Callable[[], Awaitable[None]]
_work: list[ShutdownWork] = []
_closing: list[ShutdownWork] = []

# The end of the grace period kept for step 3 on (503s, closing sockets, stopping).
CLOSING_SECONDS = 2.0
# How long requests given up on get to unwind, and sockets to finish closing.
UNWIND_SECONDS = 1.0
# After the listening socket closes, the least time given to connections it accepted
# last to deliver their request (an idle server would otherwise stop before reading
# it, and reset the connection): as Go's server keeps a new connection for a while.
SETTLE_SECONDS = 0.5


def register(work: ShutdownWork) -> None:
    """Have `work` awaited when the server stops (once, even if registered twice),
    while the requests in flight finish (step 2 of the module's sequence).

    The pieces run at the same time (ending runs must not wait for test runs to
    finish); one that raises is logged. `time_left()` says how long they may take.
    """
    if work not in _work:
        _work.append(work)


def register_closing(work: ShutdownWork) -> None:
    """Have `work` awaited once every request is answered (step 4): closing sockets."""
    if work not in _closing:
        _closing.append(work)


class _State:
    stopping = False
    # Loop time by which step 2 must be over (None: not stopping).
    answer_by: float | None = None
    sequence: "asyncio.Future[None] | None" = None


def stopping() -> bool:
    """True once the process has started to stop (new sockets are then closed at once)."""
    return _State.stopping


def time_left() -> float:
    """Seconds the registered work has left before the requests are answered 503."""
    if _State.answer_by is None:
        return settings.SHUTDOWN_GRACE_SECONDS - CLOSING_SECONDS
    return max(0.0, _State.answer_by - asyncio.get_running_loop().time())


def install() -> None:
    """Hook into daphne's reactor; does nothing elsewhere (tests, other servers)."""
    reactor: Any = sys.modules.get("twisted.internet.reactor")
    if reactor is None or not hasattr(reactor, "_asyncioEventloop"):
        return
    # After start-up: the reactor installs its own handlers while starting.
    reactor.callWhenRunning(_take_signals, reactor)
    reactor.addSystemEventTrigger("before", "shutdown", _before_shutdown)


def _take_signals(reactor: Any) -> None:
    # Daphne leaves signals alone when it runs in a thread (runserver's reloader);
    # signal handlers can only be set from the main thread anyway.
    if not reactor._installSignalHandlers or threading.current_thread() is not (
        threading.main_thread()
    ):
        return

    def handler(number: int, frame: FrameType | None) -> None:
        reactor.callFromThread(_on_signal, reactor, number)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _stop(reactor: Any) -> None:
    from twisted.internet.error import ReactorNotRunning

    with contextlib.suppress(ReactorNotRunning):
        reactor.stop()


def _on_signal(reactor: Any, number: int) -> None:
    if _State.stopping:
        logger.warning("signal %s again: stopping now", signal.Signals(number).name)
        _stop(reactor)
        return
    grace = settings.SHUTDOWN_GRACE_SECONDS
    logger.info(
        "signal %s: finishing what is in flight (at most %g s), then stopping",
        signal.Signals(number).name,
        grace,
    )
    start_watchdog(grace)
    ended = _sequence(reactor)
    ended.add_done_callback(lambda _: _stop(reactor))


def start_watchdog(seconds: float) -> None:
    """End the process `seconds` from now, whatever still runs then."""

    def watch() -> None:
        time.sleep(seconds)
        running = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
        print(
            f"vibegrapher: shutdown took over SHUTDOWN_GRACE_SECONDS ({seconds:g} s); "
            f"exiting now (threads still running: {', '.join(running)})",
            file=sys.stderr,
            flush=True,
        )
        faulthandler.dump_traceback(file=sys.stderr)
        os._exit(1)

    threading.Thread(target=watch, name="shutdown-watchdog", daemon=True).start()


def _sequence(reactor: Any) -> "asyncio.Future[None]":
    """The shutdown sequence, started once (the signal and the trigger share it)."""
    if _State.sequence is None:
        _State.stopping = True
        _State.sequence = asyncio.ensure_future(graceful(reactor))
    return _State.sequence


async def graceful(reactor: Any | None) -> None:
    """Steps 1 to 4 of the module's docstring (`reactor` None: no sockets to close)."""
    _State.stopping = True
    loop = asyncio.get_running_loop()
    started = loop.time()
    grace = settings.SHUTDOWN_GRACE_SECONDS
    _State.answer_by = started + max(0.0, grace - CLOSING_SECONDS)
    draining.begin()
    work = asyncio.ensure_future(_do_all(_work, together=True))
    if reactor is not None and stop_listening(reactor):
        await asyncio.sleep(min(SETTLE_SECONDS, time_left()))
    await draining.wait_until_idle(time_left())
    await draining.give_up_all()  # and refuse what comes from now on
    # The registered work bounds itself by time_left(); whatever is left of it now is
    # abandoned, as the requests were.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(work), max(0.1, time_left()))
    await _within(_do_all(_closing), UNWIND_SECONDS)
    # Requests given up on (and requests that came meanwhile) unwind while the loop runs.
    await draining.wait_until_idle(UNWIND_SECONDS)
    logger.info("shutdown: done in %.1f s", loop.time() - started)


async def _within(work: Awaitable[None], seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(work, seconds)


def stop_listening(reactor: Any) -> int:
    """Close the listening sockets, accepting what the kernel has queued first (closing
    a socket resets the connections still in its queue). Returns how many closed."""
    from twisted.internet import tcp

    closed = 0
    for reader in list(reactor.getReaders()):
        if isinstance(reader, tcp.Port):
            with contextlib.suppress(Exception):
                reader.doRead()  # accepts what is waiting, up to its batch size
            reader.stopListening()
            closed += 1
    return closed


async def _do_all(work: list[ShutdownWork], *, together: bool = False) -> None:
    if together:
        await asyncio.gather(*(_do_all([piece]) for piece in list(work)))
        return
    for piece in list(work):
        try:
            await piece()
        except Exception:
            logger.exception("shutdown: %s failed", getattr(piece, "__qualname__", piece))


def _before_shutdown() -> Any:
    from twisted.internet.defer import Deferred

    if _State.sequence is not None:
        return None  # done by the signal, or cut short by a second one: stop now
    return Deferred.fromFuture(_sequence(None))


def reset() -> None:
    """For tests: as before any signal."""
    _State.stopping = False
    _State.answer_by = None
    _State.sequence = None
    draining.reset()
