"""The per-process watch of open sockets' credentials (sessions_app/credential_watch.py):
off the event loop, idle without sockets, and a failed check closes nothing."""

import asyncio
import logging
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import OperationalError

from accounts import credentials
from accounts.models import ApiToken
from accounts.tokens import create_token
from projects.models import Project
from sessions_app.credential_watch import watch
from tests.support.fixtures import ProjectSocket
from vibegrapher.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

CHECK_SECONDS = 0.1


@pytest.fixture(autouse=True)
def fast_checks(settings) -> None:
    settings.WS_CREDENTIAL_CHECK_SECONDS = CHECK_SECONDS


@pytest.fixture
async def world(transactional_db) -> dict:
    def build() -> dict:
        alice = User.objects.create_user("alice", password="alice-password-123")
        project = Project.objects.create(
            name="Mine", slug="mine", owner=alice, repository_path="mine"
        )
        return {"alice": alice, "project": project}

    return await sync_to_async(build)()


async def opened(world: dict) -> tuple[WebsocketCommunicator, str]:
    token = await sync_to_async(create_token)(world["alice"])
    socket = ProjectSocket(
        application,
        f"/ws/projects/{world['project'].id}/?token={token}",
        headers=[(b"origin", b"http://localhost")],
    )
    connected, _ = await socket.connect()
    assert connected
    return socket, token


async def revoke_silently(world: dict) -> None:
    """Delete the user's tokens without announcing it: only the watch can notice."""
    await sync_to_async(ApiToken.objects.filter(user=world["alice"]).delete)()


async def test_a_failed_check_closes_nothing_and_the_next_good_one_does(
    world, monkeypatch, caplog
) -> None:
    socket, _ = await opened(world)
    real_ended = credentials.ended

    def unreachable(_credentials: object) -> dict:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("sessions_app.credential_watch.ended", unreachable)
    await revoke_silently(world)
    with caplog.at_level(logging.WARNING, logger="sessions_app.credential_watch"):
        # Many failed checks: the socket stays open, the outage is logged once.
        assert await socket.receive_nothing(timeout=CHECK_SECONDS * 8)
        monkeypatch.setattr("sessions_app.credential_watch.ended", real_ended)

        closed = await socket.receive_output(timeout=5)

    assert closed == {"type": "websocket.close", "code": 4401, "reason": "token revoked"}
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "check failed" in m]) == 1, messages
    assert len([m for m in messages if "works again" in m]) == 1, messages


async def test_checks_run_off_the_event_loop_and_only_while_sockets_are_open(
    world, monkeypatch
) -> None:
    calls: list[str] = []
    in_check, release = threading.Event(), threading.Event()
    real_ended = credentials.ended

    def stalled_ended(watched: object) -> dict:
        calls.append(threading.current_thread().name)
        in_check.set()
        release.wait(10)  # a database that does not answer
        return real_ended(watched)  # type: ignore[arg-type]

    monkeypatch.setattr("sessions_app.credential_watch.ended", stalled_ended)
    socket, _ = await opened(world)
    assert await asyncio.to_thread(in_check.wait, 10)

    # The loop answers while the check waits on the database.
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}
    assert len(calls) == 1  # one check at a time, even a stalled one
    release.set()
    await asyncio.sleep(CHECK_SECONDS * 3)
    assert len(calls) > 1 and set(calls) == {"ws-credentials_0"}  # its own thread

    await socket.disconnect()
    await asyncio.sleep(CHECK_SECONDS * 3)
    task = watch().task
    assert task is not None and task.done()  # no socket: no task, no query
    idle = len(calls)
    await asyncio.sleep(CHECK_SECONDS * 5)
    assert len(calls) == idle


async def test_only_the_ended_credentials_socket_closes(world) -> None:
    first, _ = await opened(world)
    await revoke_silently(world)
    assert (await first.receive_output(timeout=5))["code"] == 4401

    # The same user's new token opens a socket again: it is checked and stays open.
    second, _ = await opened(world)
    assert await second.receive_nothing(timeout=CHECK_SECONDS * 5)
    await second.disconnect()
