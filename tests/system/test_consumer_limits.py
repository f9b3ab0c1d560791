"""WebSocket limits through real daphne processes: a big frame gets 1009, a flood of frames
4429, and the sockets-per-user cap and the close on deactivation (4401) span two
processes sharing Redis. (The same limits inside one process:
sessions_app/tests/test_consumer_limits.py.)"""

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from websockets.typing import Origin

from tests.support.servers import AppServer, create_user_and_project


@pytest.fixture(scope="module")
def daphne() -> Iterator[tuple[AppServer, str]]:
    with AppServer() as server:
        server.manage("migrate", "--no-input", "-v0")
        made = create_user_and_project(server)
        server.start()
        path = f"/ws/projects/{made['project_id']}/?token={made['token']}"
        yield server, f"ws://127.0.0.1:{server.port}{path}"


def connect(url: str) -> websockets.connect:
    return websockets.connect(url, origin=Origin("http://localhost"), max_size=None)


@pytest.mark.parametrize("size", [70_000, 2_000_000])
async def test_daphne_answers_a_big_frame_with_1009(daphne, size: int) -> None:
    _, url = daphne
    async with connect(url) as ws:
        await ws.send("x" * size)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_daphne_50_frames_a_second_get_4429(daphne) -> None:
    _, url = daphne
    async with connect(url) as ws:

        async def read() -> int:
            try:
                async for _ in ws:
                    pass
            except websockets.ConnectionClosed:
                pass
            return ws.close_code or 0

        reader = asyncio.create_task(read())
        with pytest.raises(websockets.ConnectionClosed):
            for _ in range(200):
                await ws.send('{"type": "ping"}')
                await asyncio.sleep(0.02)
        assert await asyncio.wait_for(reader, 10) == 4429


@pytest.mark.redis
async def test_the_socket_cap_and_revocation_span_processes(redis_url: str) -> None:
    env = {"REDIS_URL": redis_url, "WS_MAX_SOCKETS_PER_USER": "2"}
    with (
        tempfile.TemporaryDirectory() as shared,
        AppServer(Path(shared), **env) as a,
        AppServer(Path(shared), **env) as b,
    ):
        a.manage("migrate", "--no-input", "-v0")
        made = create_user_and_project(a)
        a.start()
        b.start()
        path = f"/ws/projects/{made['project_id']}/?token={made['token']}"
        async with (
            connect(f"ws://127.0.0.1:{a.port}{path}") as on_a,
            connect(f"ws://127.0.0.1:{b.port}{path}") as on_b,
        ):
            for server in (a, b):
                async with connect(f"ws://127.0.0.1:{server.port}{path}") as third:
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await asyncio.wait_for(third.recv(), 10)
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429

            # Idle for longer than a Redis read timeout: the sockets must stay open.
            await asyncio.sleep(6)
            # Deactivated from a third process: both servers close their socket.
            deactivate = (
                "from django.contrib.auth.models import User; "
                "user = User.objects.get(username='walker'); user.is_active = False; "
                "user.save(); print('true')"
            )
            await asyncio.to_thread(a.python, deactivate)
            for ws in (on_a, on_b):
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                assert closed.value.rcvd is not None, a.log.read_text() + b.log.read_text()
                assert closed.value.rcvd.code == 4401, a.log.read_text() + b.log.read_text()
