"""The project WebSocket through the real ASGI stack (origin check, auth, routing)."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from accounts.tokens import create_token
from projects.models import Project
from sessions_app import presence
from sessions_app.events import DiffStatusEvent, emit, emit_sync
from tests.support.fixtures import ProjectSocket
from vibegrapher.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")


def make_project(owner: User, name: str) -> Project:
    slug = name.lower()
    return Project.objects.create(name=name, slug=slug, owner=owner, repository_path=slug)


@pytest.fixture
async def world(transactional_db):
    def build():
        alice = User.objects.create_user("alice", password="alice-password-123")
        bob = User.objects.create_user("bob", password="bob-password-123")
        return {
            "alice": alice,
            "bob": bob,
            "token": create_token(alice),
            "bob_token": create_token(bob),
            "mine": make_project(alice, "Mine"),
            "other": make_project(alice, "Other"),
            "bobs": make_project(bob, "Bobs"),
        }

    return await sync_to_async(build)()


def socket(project_id, token: str | None = None, headers=None) -> WebsocketCommunicator:
    query = f"?token={token}" if token else ""
    return ProjectSocket(
        application, f"/ws/projects/{project_id}/{query}", headers=headers or [ORIGIN]
    )


async def close_code(communicator: WebsocketCommunicator) -> int:
    connected, _ = await communicator.connect()
    assert connected  # accepted, so that the browser can read the close code
    message = await communicator.receive_output(timeout=2)
    assert message["type"] == "websocket.close"
    return int(message["code"])


def event(n: int) -> DiffStatusEvent:
    return {"type": "diff_status", "diff_id": f"d{n}", "status": "human_approved"}


async def test_connect_with_token_and_receive_events(world) -> None:
    first = socket(world["mine"].id, world["token"])
    second = socket(world["mine"].id, world["token"])
    elsewhere = socket(world["other"].id, world["token"])
    for communicator in (first, second, elsewhere):
        assert (await communicator.connect())[0]

    await emit(world["mine"].id, event(1))

    assert await first.receive_json_from() == event(1)
    assert await second.receive_json_from() == event(1)
    assert await elsewhere.receive_nothing(timeout=0.2)
    for communicator in (first, second, elsewhere):
        await communicator.disconnect()


async def test_connect_with_the_django_session(world) -> None:
    def login_cookie() -> str:
        client = Client()
        assert client.login(username="alice", password="alice-password-123")
        return client.cookies["sessionid"].value

    cookie = await sync_to_async(login_cookie)()
    communicator = socket(
        world["mine"].id, headers=[ORIGIN, (b"cookie", f"sessionid={cookie}".encode())]
    )
    assert (await communicator.connect())[0]

    await emit(world["mine"].id, event(2))

    assert await communicator.receive_json_from() == event(2)
    await communicator.disconnect()


async def test_refusals_say_why(world) -> None:
    assert await close_code(socket(world["mine"].id)) == 4401
    assert await close_code(socket(world["mine"].id, "not-a-token")) == 4401
    assert await close_code(socket(world["bobs"].id, world["token"])) == 4403
    assert await close_code(socket(world["mine"].id, world["bob_token"])) == 4403
    unknown = "00000000-0000-0000-0000-000000000000"
    assert await close_code(socket(unknown, world["token"])) == 4404


async def test_a_token_socket_needs_no_origin(world) -> None:
    # Python's websockets, CLI and mobile clients send no Origin; a foreign page cannot
    # know the token, so the Origin protects nothing here.
    for headers in ([], [(b"origin", b"https://elsewhere.example")]):
        communicator = ProjectSocket(
            application, f"/ws/projects/{world['mine'].id}/?token={world['token']}", headers
        )
        connected, _ = await communicator.connect()
        assert connected
        await emit(world["mine"].id, event(7))
        assert await communicator.receive_json_from() == event(7)
        await communicator.disconnect()


def session_cookie(user: User) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def test_a_cookie_socket_from_a_foreign_origin_is_refused(world) -> None:
    cookie = await sync_to_async(session_cookie)(world["alice"])
    path = f"/ws/projects/{world['mine'].id}/"

    foreign = ProjectSocket(application, path, [cookie, (b"origin", b"https://evil.example")])
    without_origin = ProjectSocket(application, path, [cookie])
    own_site = ProjectSocket(application, path, [cookie, ORIGIN])

    assert (await foreign.connect())[0] is False
    assert (await without_origin.connect())[0] is False
    assert (await own_site.connect())[0] is True
    await emit(world["mine"].id, event(8))
    assert await own_site.receive_json_from() == event(8)
    await own_site.disconnect()


async def test_emit_sync_from_another_thread(world) -> None:
    communicator = socket(world["mine"].id, world["token"])
    assert (await communicator.connect())[0]

    def emit_from_a_thread() -> None:
        thread = threading.Thread(target=emit_sync, args=(world["mine"].id, event(3)))
        thread.start()
        thread.join()

    await sync_to_async(emit_from_a_thread)()

    assert await communicator.receive_json_from() == event(3)
    await communicator.disconnect()


async def test_ping_pong_and_malformed_frames(world) -> None:
    communicator = socket(world["mine"].id, world["token"])
    assert (await communicator.connect())[0]

    for frame in ("not json", "[1, 2]", json.dumps({"type": "dance"}), "{"):
        await communicator.send_to(text_data=frame)
    await communicator.send_to(bytes_data=b"\xff\xfe")
    await communicator.send_json_to({"type": "ping"})

    assert await communicator.receive_json_from() == {"type": "pong"}
    await communicator.disconnect()


async def test_too_many_frames_close_the_connection(world, settings) -> None:
    settings.WS_MAX_FRAMES_PER_SECOND = 5
    communicator = socket(world["mine"].id, world["token"])
    assert (await communicator.connect())[0]

    for _ in range(6):
        await communicator.send_json_to({"type": "ping"})
    replies = []
    while True:
        message = await communicator.receive_output(timeout=2)
        if message["type"] == "websocket.close":
            break
        replies.append(json.loads(message["text"]))

    assert replies == [{"type": "pong"}] * 5
    assert message["code"] == 4429


async def test_heartbeat_counts_connections_as_they_come_and_go(world, settings) -> None:
    settings.WS_HEARTBEAT_SECONDS = 0.2
    project_id = world["mine"].id
    first = socket(project_id, world["token"])
    assert (await first.connect())[0]
    beat = await first.receive_json_from(timeout=2)
    assert beat["type"] == "heartbeat"
    assert beat["project_id"] == str(project_id) and beat["status"] == "alive"
    assert beat["connections"] == 1
    assert "T" in beat["server_time"]

    second = socket(project_id, world["token"])
    assert (await second.connect())[0]
    assert await next_count(first) == 2
    await second.disconnect()
    assert await next_count(first) == 1
    await first.disconnect()


async def test_a_connection_that_vanishes_drops_out_of_the_count(world, settings) -> None:
    settings.WS_HEARTBEAT_SECONDS = 0.2
    project_id = str(world["mine"].id)
    # A connection of a server process that was killed: joined, never left.
    await presence.join(project_id, "killed-process-connection")
    live = socket(project_id, world["token"])
    assert (await live.connect())[0]

    assert await next_count(live) == 2
    await asyncio.sleep(presence.ttl())
    while not await live.receive_nothing(timeout=0.01):  # drop beats sent while waiting
        await live.receive_output()
    assert await next_count(live) == 1
    await live.disconnect()


async def next_count(communicator: WebsocketCommunicator) -> int:
    beat = await communicator.receive_json_from(timeout=2)
    assert beat["type"] == "heartbeat"
    return int(beat["connections"])
