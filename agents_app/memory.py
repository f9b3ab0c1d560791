"""The agents' conversation memory: the SDK's sessions.

Keys: `project_{slug}` (global) or `project_{slug}_node_{node_id}`; the Evaluator's
key is the VibeCoder's with `_evaluator` appended.

`AGENT_MEMORY` picks the store:
- `sqlite` (default): the SDK's SQLiteSession, a file per project at
  `MEDIA_ROOT/projects/{slug}_conversations.db`, beside the project's repository;
- `database`: the SDK's SQLAlchemySession on the Django database (`DATABASE_URL`,
  through asyncpg or aiosqlite), in the tables of `agents_app.models`, so that
  machines sharing the database share the memory.
"""

import asyncio
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

EVALUATOR_SUFFIX = "_evaluator"


def session_key(slug: str, node_id: str = "") -> str:
    return f"project_{slug}_node_{node_id}" if node_id else f"project_{slug}"


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


async def open_memory(slug: str, key: str) -> Session:
    """The SDK session for `key`."""
    if settings.AGENT_MEMORY == "database":
        return SQLAlchemySession(key, engine=_engine(), create_tables=False)
    # Opening a SQLiteSession touches its file: off the loop.
    return await asyncio.to_thread(SQLiteSession, key, str(conversations_db(slug)))


def close_memory(memory: Session) -> None:
    if isinstance(memory, SQLiteSession):
        memory.close()


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

    The SQLite store is a file beside the repository and goes with it.
    """
    AgentMemorySession.objects.filter(project_keys(slug)).delete()
