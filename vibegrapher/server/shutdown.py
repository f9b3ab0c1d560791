"""Graceful shutdown under daphne: on SIGTERM or SIGINT, runs end before the process does.

Daphne has no ASGI lifespan events; it stops Twisted's reactor on SIGTERM/SIGINT,
whose "before shutdown" triggers run (daphne's own cancels every connection's
application at once, so a WebSocket on this process would miss what follows), and
then the asyncio loop simply stops: pending tasks are dropped, not cancelled. So the
signals are taken over here once the reactor runs: the first one ends every run
(`interrupted`, `run_finished` to every browser, the SDK memory's pools closed),
then stops the reactor as daphne would; a second one stops it at once. A "before
shutdown" trigger does the same for any other way the reactor stops.
"""

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from types import FrameType
from typing import Any

from django.conf import settings

from agents_app.memory import dispose_engines
from agents_app.runs import interrupt_runs

logger = logging.getLogger(__name__)

# Time for the events of the ended runs to reach this process's WebSockets.
FLUSH_SECONDS = 0.5


class _State:
    stopping = False


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
    _State.stopping = True
    logger.info("signal %s: ending the runs, then stopping", signal.Signals(number).name)
    ended = asyncio.ensure_future(_end_runs())
    ended.add_done_callback(lambda _: _stop(reactor))


async def _end_runs() -> None:
    try:
        count = await interrupt_runs(settings.RUN_SHUTDOWN_SECONDS)
        if count:
            logger.info("shutdown: %d runs ended as interrupted", count)
            # The consumers on this process forward the last events, and the sockets
            # write them out, before daphne cancels every connection.
            await asyncio.sleep(FLUSH_SECONDS)
        await dispose_engines()
    except Exception:
        logger.exception("shutdown: ending the runs failed")


def _before_shutdown() -> Any:
    from twisted.internet.defer import Deferred

    return Deferred.fromFuture(asyncio.ensure_future(_end_runs()))
