"""The agents' SQLite memory stays open across runs, and goes with its project."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from agents_app.memory import close_memory, open_memory, session_key
from projects.services import create_project, delete_project

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_session_is_reused_and_keeps_what_it_stored(user: User) -> None:
    project = await sync_to_async(create_project)(user, "Memory", None)
    key = session_key(project.slug)
    first = await open_memory(project.slug, key)
    await first.add_items([{"role": "user", "content": "remember me"}])
    close_memory(first)
    second = await open_memory(project.slug, key)
    try:
        assert second is first  # not opened again
        assert await second.get_items() == [{"role": "user", "content": "remember me"}]
    finally:
        close_memory(second)


async def test_two_runs_share_a_session_and_neither_closes_it(user: User) -> None:
    project = await sync_to_async(create_project)(user, "Shared", None)
    key = session_key(project.slug)
    one, two = await open_memory(project.slug, key), await open_memory(project.slug, key)
    close_memory(one)
    await two.add_items([{"role": "user", "content": "still open"}])
    assert len(await two.get_items()) == 1
    close_memory(two)


async def test_deleting_a_project_closes_its_sessions(user: User) -> None:
    project = await sync_to_async(create_project)(user, "Gone", None)
    key = session_key(project.slug)
    memory = await open_memory(project.slug, key)
    await memory.add_items([{"role": "user", "content": "forget me"}])
    close_memory(memory)
    await sync_to_async(delete_project)(project)
    with pytest.raises(RuntimeError, match="closed"):
        await memory.get_items()
