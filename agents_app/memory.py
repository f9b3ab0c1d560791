"""The agents' conversation memory: the SDK's sessions.

Keys: a session's own (`sessions_app.services.session_key`); the Evaluator's key is
the VibeCoder's with `_evaluator` appended.

`AGENT_MEMORY` picks the store:
- `sqlite` (default): the SDK's SQLiteSession, a file per project at
  `MEDIA_ROOT/projects/{slug}_conversations.db`, beside the project's repository;
- `database`: the SDK's SQLAlchemySession on the Django database (`DATABASE_URL`,
  through asyncpg or aiosqlite), in the tables of `agents_app.models`, so that
  machines sharing the database share the memory.
"""

import asyncio
import threading
from collections import OrderedDict
from typing import Any

from agents import SQLiteSession
from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession
from agents.memory import Session
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from agents_app.models import AgentMemorySession
from projects.models import Project
from projects.storage import conversations_db
from sessions_app.services import session_key

EVALUATOR_SUFFIX = "_evaluator"


def evaluator_key(key: str) -> str:
    return key + EVALUATOR_SUFFIX


def project_keys(slug: str) -> Q:
    """Every memory key of a project (slugs hold no `_`, so the prefix is exact)."""
    key = session_key(slug)
    return Q(session_id=key) | Q(session_id__startswith=key + "_")


def database_url() -> URL:
    """The Django database as an async SQLAlchemy URL."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return URL.create("sqlite+aiosqlite", database=str(db["NAME"]))
    if db["ENGINE"] == "django.db.backends.postgresql":
        return URL.create(
            "postgresql+asyncpg",
            username=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None,
            port=int(db["PORT"]) if db.get("PORT") else None,
            database=db["NAME"],
        )
    raise ImproperlyConfigured(
        f"AGENT_MEMORY=database supports SQLite and PostgreSQL, not {db['ENGINE']}."
    )


# One engine (and connection pool) per database and event loop: asyncpg's
# connections belong to the loop that opened them.
_engines: dict[tuple[str, int], AsyncEngine] = {}


def _engine() -> AsyncEngine:
    url = database_url()
    key = (url.render_as_string(hide_password=False), id(asyncio.get_running_loop()))
    if key not in _engines:
        _engines[key] = create_async_engine(url, pool_pre_ping=True)
    return _engines[key]


async def dispose_engines() -> None:
    """Close the pools of this loop's engines (tests, before the test database goes)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [key for key in _engines if key[1] == loop_id]:
        await _engines.pop(key).dispose()


class _OpenSQLiteSessions:
    """SQLite memories kept open across runs, by file and key.

    Opening a SQLiteSession creates its schema and configures a connection; each worker
    thread then opens its own connection on first use. Doing that for every run cost
    more worker-thread time than the rest of a run's backend work, so sessions stay
    open (their connections with them) and runs borrow them. A session in use is never
    closed; beyond AGENT_MEMORY_OPEN_SESSIONS open sessions, the least recently used
    idle ones are closed, off the event loop: each holds up to two file descriptors per
    worker thread, and a process must not run out of them. Deleting a project closes
    its sessions.
    """

    def __init__(self) -> None:
        self._sessions: OrderedDict[tuple[str, str], SQLiteSession] = OrderedDict()
        self._users: dict[int, int] = {}  # id(session) -> runs using it
        self._lock = threading.Lock()

    def borrow(self, path: str, key: str) -> SQLiteSession | None:
        with self._lock:
            session = self._sessions.get((path, key))
            if session is not None:
                self._sessions.move_to_end((path, key))
                self._users[id(session)] = self._users.get(id(session), 0) + 1
            return session

    def add(
        self, path: str, key: str, session: SQLiteSession
    ) -> tuple[SQLiteSession, list[SQLiteSession]]:
        """Keep `session` (or the one another run opened meanwhile); the idle ones to close."""
        with self._lock:
            kept = self._sessions.setdefault((path, key), session)
            self._sessions.move_to_end((path, key))
            self._users[id(kept)] = self._users.get(id(kept), 0) + 1
            evicted = [] if kept is session else [session]
            for cache_key, idle in list(self._sessions.items()):
                if len(self._sessions) <= settings.AGENT_MEMORY_OPEN_SESSIONS:
                    break
                if not self._users.get(id(idle)):
                    del self._sessions[cache_key]
                    evicted.append(idle)
            return kept, evicted

    def give_back(self, session: SQLiteSession) -> bool:
        """Release a borrowed session; True if it is no longer kept and must be closed."""
        with self._lock:
            users = self._users.get(id(session), 0) - 1
            if users > 0:
                self._users[id(session)] = users
                return False
            self._users.pop(id(session), None)
            return session not in self._sessions.values()

    def forget(self, path: str) -> list[SQLiteSession]:
        """Stop keeping the sessions of a file; those not in use, to close."""
        with self._lock:
            gone = [key for key in self._sessions if key[0] == path]
            sessions = [self._sessions.pop(key) for key in gone]
            return [session for session in sessions if not self._users.get(id(session))]


_sqlite_sessions = _OpenSQLiteSessions()


async def open_memory(slug: str, key: str) -> Session:
    """The SDK session for `key`; give it back with `close_memory`."""
    if settings.AGENT_MEMORY == "database":
        return SQLAlchemySession(key, engine=_engine(), create_tables=False)
    path = str(conversations_db(slug))
    session = _sqlite_sessions.borrow(path, key)
    if session is not None:
        return session
    # Opening a SQLiteSession touches its file: off the loop.
    opened = await asyncio.to_thread(SQLiteSession, key, path)
    session, evicted = _sqlite_sessions.add(path, key, opened)
    if evicted:
        await asyncio.to_thread(_close_all, evicted)
    return session


def close_memory(memory: Session) -> None:
    """Give back a session from `open_memory`; the SQLite ones usually stay open."""
    if isinstance(memory, SQLiteSession) and _sqlite_sessions.give_back(memory):
        # Its project was deleted meanwhile: close it, never on the event loop.
        try:
            asyncio.get_running_loop().run_in_executor(None, memory.close)
        except RuntimeError:  # no loop: this is a worker thread
            memory.close()


def _close_all(sessions: list[SQLiteSession]) -> None:
    for session in sessions:
        session.close()


async def clear_memory(slug: str, key: str) -> None:
    memory = await open_memory(slug, key)
    try:
        await memory.clear_session()
    finally:
        close_memory(memory)


def forget_deleted_project(sender: type[Project], instance: Project, **kwargs: Any) -> None:
    """`post_delete` of a Project: its memory in the database store goes in the same
    transaction (the SQLite store is a file beside the repository and goes with it)."""
    delete_project_memory(instance.slug)


def delete_project_memory(slug: str) -> None:
    """Forget a deleted project's conversations in the database store (sync, ORM).

    The SQLite store is a file beside the repository and goes with it; its open
    sessions are closed here.
    """
    _close_all(_sqlite_sessions.forget(str(conversations_db(slug))))
    AgentMemorySession.objects.filter(project_keys(slug)).delete()
