"""WebSocket limits: frame size (1009), frame rate and sockets per user (4429), and
sockets closed (4401) when the user is deactivated or changes password."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from accounts.tokens import create_token
from projects.models import Project
from tests.support.fixtures import ProjectSocket
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
