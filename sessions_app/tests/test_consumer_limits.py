"""WebSocket limits: frame size (1009), frame rate and sockets per user (4429), and
sockets closed (4401) when the user is deactivated or changes password."""

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from websockets.typing import Origin

from accounts.tokens import create_token
from projects.models import Project
from tests.support.fixtures import ProjectSocket
from tests.support.servers import AppServer, create_user_and_project
from vibegrapher.asgi import application

ORIGIN = (b"origin", b"http://localhost")


def make_project(owner: User, name: str) -> Project:
    slug = name.lower()
    return Project.objects.create(name=name, slug=slug, owner=owner, repository_path=slug)


@pytest.fixture
async def world(transactional_db):
    def build():
        alice = User.objects.create_user("alice", password="alice-password-123")
        return {
            "alice": alice,
            "token": create_token(alice),
            "mine": make_project(alice, "Mine"),
            "other": make_project(alice, "Other"),
        }

    return await sync_to_async(build)()


async def opened(project_id, token: str) -> WebsocketCommunicator:
    communicator = ProjectSocket(
        application, f"/ws/projects/{project_id}/?token={token}", headers=[ORIGIN]
    )
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def closed_with(communicator: WebsocketCommunicator) -> int:
    message = await communicator.receive_output(timeout=2)
    assert message["type"] == "websocket.close", message
    return int(message["code"])


async def test_a_frame_over_the_limit_closes_with_1009(world, settings) -> None:
    communicator = await opened(world["mine"].id, world["token"])
    padding = "x" * (settings.WS_MAX_FRAME_BYTES - 100)
    await communicator.send_to(text_data=f'{{"type": "ping", "pad": "{padding}"}}')
    assert await communicator.receive_json_from() == {"type": "pong"}  # under: fine

    await communicator.send_to(text_data="é" * (settings.WS_MAX_FRAME_BYTES // 2 + 1))  # bytes

    assert await closed_with(communicator) == 1009
    await communicator.wait()


async def test_too_many_frames_close_once_with_4429(world, settings) -> None:
    settings.WS_MAX_FRAMES_PER_SECOND = 5
    communicator = await opened(world["mine"].id, world["token"])
    for _ in range(5):
        await communicator.send_json_to({"type": "other"})
    await communicator.send_json_to({"type": "ping"})

    assert await closed_with(communicator) == 4429
    # Frames the client had already sent get neither an answer nor a second close.
    for _ in range(5):
        await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.wait()


async def test_at_most_n_sockets_per_user(world, settings) -> None:
    settings.WS_MAX_SOCKETS_PER_USER = 3
    sockets = [
        await opened(world["mine"].id, world["token"]),
        await opened(world["mine"].id, world["token"]),
        await opened(world["other"].id, world["token"]),  # any project of the user counts
    ]

    fourth = await opened(world["other"].id, world["token"])
    assert await closed_with(fourth) == 4429

    await sockets.pop().disconnect()
    sockets.append(await opened(world["mine"].id, world["token"]))
    assert await sockets[-1].receive_nothing(timeout=0.2)  # this one stays open
    for communicator in sockets:
        await communicator.disconnect()


@pytest.mark.parametrize("change", ["deactivate", "new password", "delete"])
async def test_a_credential_change_closes_the_users_sockets(world, change: str) -> None:
    by_token = await opened(world["mine"].id, world["token"])
    second = await opened(world["other"].id, world["token"])

    def apply() -> None:
        alice = User.objects.get(pk=world["alice"].pk)
        if change == "deactivate":
            alice.is_active = False
            alice.save()
        elif change == "new password":
            alice.set_password("another-password-456")
            alice.save()
        else:
            alice.delete()

    await sync_to_async(apply)()

    assert await closed_with(by_token) == 4401
    assert await closed_with(second) == 4401


async def test_an_unrelated_save_keeps_the_sockets_open(world) -> None:
    communicator = await opened(world["mine"].id, world["token"])

    def rename() -> None:
        alice = User.objects.get(pk=world["alice"].pk)
        alice.first_name = "Alice"
        alice.save()

    await sync_to_async(rename)()

    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


# --- Through real daphne processes ------------------------------------------------


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
