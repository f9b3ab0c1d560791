"""Open WebSockets are closed (4401) once the credential that opened them ends.

Each server process keeps its open sockets and their credential here. While it has
any, one task re-validates all of them every `WS_CREDENTIAL_CHECK_SECONDS` with a few
batched queries (`accounts.credentials.ended`), so every way a credential ends is
seen within about that interval: a token deleted or expired, a session deleted or
expired, a password changed or a user deactivated through `QuerySet.update()`, raw
SQL or another process. (The usual ends also arrive at once through the channel
layer; this check is what makes the rest certain.)

The queries run on one thread of their own, one check at a time, never on the event
loop. A process with no socket runs no task and makes no query. A check that fails
(the database unreachable or slow) closes nothing: it is logged, and the next one
tries again; a socket is closed only on an answer that says its credential ended.
"""

import asyncio
import logging
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from django.conf import settings
from django.db import close_old_connections

from accounts.credentials import SocketCredential, ended

logger = logging.getLogger(__name__)

# One thread, one check at a time: a stalled database holds one thread, not a pool.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ws-credentials")


class WatchedSocket(Protocol):
    async def credentials_ended(self, reason: str) -> None: ...


def _check(credentials: frozenset[SocketCredential]) -> dict[SocketCredential, str]:
    """`ended()` on the check's thread, leaving its connection as a request would."""
    close_old_connections()
    try:
        return ended(credentials)
    finally:
        close_old_connections()


class CredentialWatch:
    """The open sockets of one event loop (a server process has one) and their check."""

    def __init__(self) -> None:
        self.sockets: dict[WatchedSocket, SocketCredential] = {}
        self.task: asyncio.Task[None] | None = None
        self.failures = 0
        self.last_check_seconds = 0.0

    def add(self, socket: WatchedSocket, credential: SocketCredential) -> None:
        self.sockets[socket] = credential
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run(), name="ws-credential-check")

    def discard(self, socket: WatchedSocket) -> None:
        self.sockets.pop(socket, None)

    async def _run(self) -> None:
        # Ends when the last socket is gone; `add` starts it again. Checks start every
        # interval (not an interval after the last one ended), so a slow check does
        # not add its time to the next close; they never overlap.
        next_check = time.monotonic()
        while self.sockets:
            next_check += settings.WS_CREDENTIAL_CHECK_SECONDS
            await asyncio.sleep(max(0.0, next_check - time.monotonic()))
            next_check = max(next_check, time.monotonic())
            if not self.sockets:
                return
            try:
                await self.check()
            except Exception:
                logger.exception("ws credential check")

    async def check(self) -> int:
        """Close the sockets whose credential ended; how many it closed."""
        watched = dict(self.sockets)
        started = time.perf_counter()
        try:
            revoked = await asyncio.get_running_loop().run_in_executor(
                _executor, _check, frozenset(watched.values())
            )
        except Exception as exc:
            self.failures += 1
            # Once per outage, not once a second: the sockets stay open meanwhile.
            if self.failures == 1:
                logger.warning(
                    "ws credential check failed, %d sockets kept open until a check "
                    "succeeds: %s: %s",
                    len(watched),
                    type(exc).__name__,
                    exc,
                )
            return 0
        self.last_check_seconds = time.perf_counter() - started
        logger.debug(
            "ws credential check: %d sockets, %d credentials, %.1f ms",
            len(watched),
            len(set(watched.values())),
            self.last_check_seconds * 1000,
        )
        if self.failures:
            logger.warning("ws credential check works again after %d failures", self.failures)
            self.failures = 0
        closed = 0
        for socket, credential in watched.items():
            reason = revoked.get(credential)
            if reason is not None and self.sockets.get(socket) == credential:
                self.discard(socket)
                closed += 1
                try:
                    await socket.credentials_ended(reason)
                except Exception:
                    logger.exception("ws credential check: closing a socket failed")
        return closed


_watches: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CredentialWatch]" = (
    weakref.WeakKeyDictionary()
)


def watch() -> CredentialWatch:
    """The running event loop's watch."""
    loop = asyncio.get_running_loop()
    found = _watches.get(loop)
    if found is None:
        found = _watches[loop] = CredentialWatch()
    return found
