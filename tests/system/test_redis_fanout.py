"""Events reach browsers on every server process through Redis (two real daphnes)."""

import asyncio
import json
import tempfile
from pathlib import Path

import pytest
import websockets
from websockets.typing import Origin

from tests.support.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.redis

EMIT = """
import json
from sessions_app.events import emit_sync
emit_sync({project_id!r}, {{"type": "diff_status", "diff_id": "from-a-third-process",
                           "status": "committed"}})
print(json.dumps("sent"))
"""


async def next_event(ws, kind: str) -> dict:
    async with asyncio.timeout(10):
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return event


async def test_an_event_reaches_clients_on_both_processes(redis_url: str) -> None:
    with tempfile.TemporaryDirectory() as shared:
        env = {"REDIS_URL": redis_url, "WS_HEARTBEAT_SECONDS": "0.3"}
        with AppServer(Path(shared), **env) as a, AppServer(Path(shared), **env) as b:
            a.manage("migrate", "--no-input", "-v0")
            made = create_user_and_project(a)
            a.start()
            b.start()
            path = f"/ws/projects/{made['project_id']}/?token={made['token']}"
            origin = Origin("http://localhost")
            async with (
                websockets.connect(f"ws://127.0.0.1:{a.port}{path}", origin=origin) as on_a,
                websockets.connect(f"ws://127.0.0.1:{b.port}{path}", origin=origin) as on_b,
            ):
                # Each process counts the connection held by the other.
                for ws in (on_a, on_b):
                    for _ in range(10):
                        if (await next_event(ws, "heartbeat"))["connections"] == 2:
                            break
                    else:
                        pytest.fail("the heartbeat never counted both connections")

                await asyncio.to_thread(a.python, EMIT.format(project_id=made["project_id"]))

                for ws in (on_a, on_b):
                    event = await next_event(ws, "diff_status")
                    assert event["diff_id"] == "from-a-third-process"
