"""The agents' SQLite memory stays open across runs, and goes with its project."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import override_settings

from agents_app.memory import close_memory, open_memory
from projects.services import create_project, delete_project
from sessions_app.services import session_key

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


async def test_beyond_the_limit_the_least_recently_used_idle_sessions_are_closed(
    user: User,
) -> None:
    projects = [await sync_to_async(create_project)(user, f"Kept {n}", None) for n in range(4)]
    with override_settings(AGENT_MEMORY_OPEN_SESSIONS=2):
        in_use = await open_memory(projects[0].slug, session_key(projects[0].slug))
        given_back = []
        for project in projects[1:]:
            memory = await open_memory(project.slug, session_key(project.slug))
            await memory.add_items([{"role": "user", "content": project.name}])
            close_memory(memory)
            given_back.append(memory)
        # The oldest is in use: never closed under a run. The idle ones go oldest first.
        assert await in_use.get_items() == []
        for closed in given_back[:2]:
            with pytest.raises(RuntimeError, match="closed"):
                await closed.get_items()
        assert len(await given_back[2].get_items()) == 1
        close_memory(in_use)
        # A closed memory opens again with what it stored.
        again = await open_memory(projects[1].slug, session_key(projects[1].slug))
        try:
            assert again is not given_back[0]
            assert await again.get_items() == [{"role": "user", "content": "Kept 1"}]
        finally:
            close_memory(again)
