"""Tasks that outlive the request that starts them: vibecode runs, diff test runs."""

import asyncio
import contextvars
import uuid
from collections.abc import Coroutine
from typing import Any


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

    def _forget(self, key: uuid.UUID, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
