"""The agents' conversation memory: the SDK's sessions, one store per project.

Keys: `project_{slug}` (global) or `project_{slug}_node_{node_id}`; the Evaluator's
key is the VibeCoder's with `_evaluator` appended. The store is a SQLite file at
`MEDIA_ROOT/projects/{slug}_conversations.db`.
"""

import asyncio

from agents import SQLiteSession
from agents.memory import Session

from projects.storage import conversations_db

EVALUATOR_SUFFIX = "_evaluator"


def session_key(slug: str, node_id: str = "") -> str:
    return f"project_{slug}_node_{node_id}" if node_id else f"project_{slug}"


def evaluator_key(key: str) -> str:
    return key + EVALUATOR_SUFFIX


async def open_memory(slug: str, key: str) -> Session:
    """The SDK session for `key`; opening it touches the file, so it runs off the loop."""
    path = conversations_db(slug)
    return await asyncio.to_thread(SQLiteSession, key, str(path))


def close_memory(memory: Session) -> None:
    if isinstance(memory, SQLiteSession):
        memory.close()


async def clear_memory(slug: str, key: str) -> None:
    memory = await open_memory(slug, key)
    try:
        await memory.clear_session()
    finally:
        close_memory(memory)
