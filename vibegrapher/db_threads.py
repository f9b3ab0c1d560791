"""Database work off the event loop, in a worker thread that closes its connection.

`off_loop(func)` is `sync_to_async(func, thread_sensitive=False)` with Django's
`close_old_connections` called in the worker thread before and after each job, as
request threads get from Django's request signals. It calls Django's function
itself rather than relying on channels' `database_sync_to_async`, whose hook
channels.testing switches off process-wide while a test waits on a socket (then
the pool threads keep their connections and PostgreSQL cannot drop the test
database). With CONN_MAX_AGE=0 every job's connection is closed when it ends.
"""

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django import db

P = ParamSpec("P")
T = TypeVar("T")


def off_loop(func: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    @functools.wraps(func)
    def job(*args: P.args, **kwargs: P.kwargs) -> T:
        db.close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            db.close_old_connections()

    return sync_to_async(job, thread_sensitive=False)
