"""Graceful shutdown under daphne: on SIGTERM or SIGINT, runs end before the process does.

Daphne has no ASGI lifespan events; it stops Twisted's reactor on SIGTERM/SIGINT,
whose "before shutdown" triggers run (daphne's own cancels every connection's
application at once, so a WebSocket on this process would miss what follows), and
then the asyncio loop simply stops: pending tasks are dropped, not cancelled. So the
signals are taken over here once the reactor runs: the first one does the work the
apps registered (`register`, from their `AppConfig.ready`: agents_app ends every run,
`interrupted` with `run_finished` to every browser, and closes the SDK memory's
pools), then stops the reactor as daphne would; a second one stops it at once. A
"before shutdown" trigger does the same for any other way the reactor stops.
"""

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

# What the apps do before the process stops, in the order they registered.
ShutdownWork = Callable[[], Awaitable[None]]
_work: list[ShutdownWork] = []


def register(work: ShutdownWork) -> None:
    """Have `work` awaited when the server stops (once, even if registered twice).

    Each piece runs after the one registered before it; one that raises is logged and
    the next still runs.
    """
    if work not in _work:
        _work.append(work)


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
    logger.info("signal %s: doing the shutdown work, then stopping", signal.Signals(number).name)
    ended = asyncio.ensure_future(_do_registered_work())
    ended.add_done_callback(lambda _: _stop(reactor))


async def _do_registered_work() -> None:
    for work in list(_work):
        try:
            await work()
        except Exception:
            logger.exception("shutdown: %s failed", getattr(work, "__qualname__", work))


def _before_shutdown() -> Any:
    from twisted.internet.defer import Deferred

    return Deferred.fromFuture(asyncio.ensure_future(_do_registered_work()))
