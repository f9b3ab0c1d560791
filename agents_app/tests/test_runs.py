"""A run inside one process: it stops once another process has taken its session over,
and once shutdown began it ends and no new one starts. (The same across real server
processes, with real signals: tests/system/test_run_lifecycle.py.)"""

import asyncio
import uuid
from typing import Any

import pytest
from django.utils import timezone

from agents_app import runs
from agents_app.tests.conftest import Vibe
from sessions_app.models import VibecodeSession
from tests.support.fixtures import wait_for_requests
from tests.support.model_server import ModelServer, hang


async def test_a_run_whose_claim_was_taken_over_stops_without_events(
    vibe: Vibe, model_server: ModelServer, settings: Any
) -> None:
    """Silent too long (a blocked loop, a database outage) and taken over: it stops."""
    settings.RUN_HEARTBEAT_SECONDS = 0.1
    model_server.script(hang())
    assert (await vibe.send("one")).status_code == 202
    task = runs.active_run(uuid.UUID(vibe.session_id))
    assert task is not None
    await asyncio.to_thread(wait_for_requests, model_server, 1)

    # Another process took the session over, as it does once the heartbeat is stale.
    await VibecodeSession.objects.filter(id=vibe.session_id).aupdate(
        run_owner="other-host:1:cafe", run_heartbeat_at=timezone.now()
    )
    async with asyncio.timeout(5):
        await asyncio.gather(task, return_exceptions=True)

    session = await VibecodeSession.objects.aget(id=vibe.session_id)
    assert (session.run_state, session.run_owner) == ("running", "other-host:1:cafe")
    with pytest.raises(TimeoutError):
        await vibe.until("run_finished", wait=0.5)


async def test_once_shutdown_began_runs_end_and_no_new_one_starts(
    vibe: Vibe, model_server: ModelServer
) -> None:
    model_server.script(hang())
    assert (await vibe.send("one")).status_code == 202
    await asyncio.to_thread(wait_for_requests, model_server, 1)
    try:
        assert await runs.interrupt_runs(5) == 1
        finished = await vibe.until("run_finished")
        refused = await vibe.send("two")
    finally:
        runs._Shutdown.started = False

    assert (finished["outcome"], finished["error"]) == ("error", runs.RESTARTING)
    assert refused.status_code == 503
    assert "restarting" in refused.json()["detail"]
    session = await VibecodeSession.objects.aget(id=vibe.session_id)
    assert (session.run_state, session.run_owner) == ("interrupted", "")
    assert [m["content"] for m in await vibe.messages()] == ["one"]
