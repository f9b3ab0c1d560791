"""Tasks that outlive the request that starts them: vibecode runs, diff test runs."""

import asyncio
import contextvars
import functools
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django import db

P = ParamSpec("P")
T = TypeVar("T")


def in_thread(func: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Run ORM code of a background task in a worker thread, closing its connection afterwards.

    Not thread-sensitive: a task outlives the request that started it, and tasks must
    not queue behind each other (or behind requests) on one shared thread.

    Django's `close_old_connections` is called in the worker thread before and after
    each job (with CONN_MAX_AGE=0 the job's connection is closed when it ends). It is
    called here rather than through channels' `database_sync_to_async`, whose hook
    channels.testing switches off process-wide while a test waits on a socket: the
    pool threads then kept their connections, and PostgreSQL refused to drop the test
    database ("being accessed by other users").
    """

    @functools.wraps(func)
    def job(*args: P.args, **kwargs: P.kwargs) -> T:
        db.close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            db.close_old_connections()

    return sync_to_async(job, thread_sensitive=False)


class BackgroundTasks:
    """Running tasks by key, strongly held until they end (the loop keeps only weak ones)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}

    def start(self, key: uuid.UUID, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        # A fresh context: the task must not inherit the request's (its thread-sensitive
        # executor ends with the request).
        task = asyncio.create_task(work, name=f"{self.name}-{key}", context=contextvars.Context())
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))
        return task

    def get(self, key: uuid.UUID) -> asyncio.Task[None] | None:
        return self._tasks.get(key)

    def keys(self) -> list[uuid.UUID]:
        return list(self._tasks)

    def tasks(self) -> list[asyncio.Task[None]]:
        return list(self._tasks.values())

    def _forget(self, key: uuid.UUID, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
