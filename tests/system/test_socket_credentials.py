"""A WebSocket closes (4401, with the reason) once its token or session ends, by any path.

Real daphne processes and a real WebSocket client. Two servers share one database and
one Redis: `announced` re-checks its sockets only once an hour, so a socket on it
closes in time only through the channel layer's announcement (DELETE, logout, a saved
password change) sent from the other process; `watching` re-checks every second, and
closes what nobody announces (`QuerySet.update()`, raw SQL, an expiry).
"""

import asyncio
import json
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin

from tests.support.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.redis

# The margin every close must beat: the watch runs each second, the announcement at once.
WITHIN_SECONDS = 3.0


@dataclass
class Pair:
    announced: AppServer
    watching: AppServer
    # Each test's user (`token`, `project_id`); the password is `<name>-pass-1`.
    users: dict[str, dict[str, str]]

    @property
    def neighbour(self) -> dict[str, str]:
        """A user none of the tests touches: their socket must stay open through all of it."""
        return self.users["neighbour"]


USERS = ["neighbour", "revoker", "leaver", "bulk", "rotor", "sleeper"]
CREATE_USERS = """
import json
from django.contrib.auth.models import User
from accounts.tokens import create_token
from projects.services import create_project
made = {}
for name in %r:
    user = User.objects.create_user(name, password=name + "-pass-1")
    project = create_project(user, name, "from agents import Agent\\n")
    made[name] = {"token": create_token(user), "project_id": str(project.id)}
print(json.dumps(made))
"""


@pytest.fixture(scope="module")
def pair(redis_prefixed: dict[str, str]) -> Iterator[Pair]:
    env = {**redis_prefixed, "LOG_LEVEL": "INFO"}
    with (
        tempfile.TemporaryDirectory() as shared,
        AppServer(Path(shared), WS_CREDENTIAL_CHECK_SECONDS="3600", **env) as announced,
        AppServer(Path(shared), WS_CREDENTIAL_CHECK_SECONDS="1", **env) as watching,
    ):
        announced.manage("migrate", "--no-input", "-v0")
        # One process for all (a shell takes seconds on a loaded machine).
        users = announced.python(CREATE_USERS % (USERS,))
        announced.start()
        watching.start()
        yield Pair(announced, watching, users)


def socket_url(server: AppServer, project_id: str, token: str | None = None) -> str:
    query = f"?token={token}" if token else ""
    return f"ws://127.0.0.1:{server.port}/ws/projects/{project_id}/{query}"


def connect(server: AppServer, project_id: str, token: str | None = None, cookie: str = ""):
    return websockets.connect(
        socket_url(server, project_id, token),
        origin=Origin(f"http://127.0.0.1:{server.port}"),
        additional_headers={"Cookie": f"sessionid={cookie}"} if cookie else None,
    )


async def close_of(ws: ClientConnection, seconds: float = 60) -> tuple[int, str, float]:
    """The close frame's code and reason, and when it came (`time.time()`)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(seconds):
            while True:
                await ws.recv()
    received = closed.value.rcvd
    assert received is not None, "the connection dropped without a close frame"
    return received.code, received.reason, time.time()


def closes(*sockets: ClientConnection) -> "list[asyncio.Task[tuple[int, str, float]]]":
    """Each socket's `close_of`, read from now on: a close is timed when it arrives,
    not when the test gets to it (a shell takes seconds to exit on a loaded machine)."""
    return [asyncio.create_task(close_of(ws)) for ws in sockets]


async def next_event(ws: ClientConnection, kind: str) -> dict:
    async with asyncio.timeout(15):
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return dict(event)


EMIT = """
import json
from sessions_app.events import emit_sync
for project_id in {project_ids!r}:
    emit_sync(project_id, {{"type": "diff_status", "diff_id": "after", "status": "committed"}})
print(json.dumps("sent"))
"""


async def still_served(server: AppServer, *sockets: tuple[ClientConnection, str]) -> None:
    """Each (socket, project id) is open and gets an event emitted now by a third process."""
    project_ids = [project_id for _, project_id in sockets]
    await asyncio.to_thread(server.python, EMIT.format(project_ids=project_ids))
    for ws, _ in sockets:
        assert (await next_event(ws, "diff_status"))["diff_id"] == "after"


async def in_shell(server: AppServer, code: str) -> float:
    """Run `code` in a third process; when it had run (`time.time()`, it commits at once)."""
    done: float = await asyncio.to_thread(
        server.python, code + "\nimport json, time\nprint(json.dumps(time.time()))"
    )
    return done


def log_in_api(server: AppServer, username: str, password: str) -> str:
    """A new API token (POST /api/auth/token)."""
    answer = httpx.post(
        f"{server.url}/api/auth/token", json={"username": username, "password": password}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def log_in(client: httpx.Client, server: AppServer, username: str, password: str) -> str:
    """Log in through the login page; the session cookie's value."""
    page = client.get(f"{server.url}/login/")
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, page.text
    answer = client.post(
        f"{server.url}/login/",
        data={"csrfmiddlewaretoken": match.group(1), "username": username, "password": password},
    )
    assert answer.status_code == 302, answer.text
    return str(client.cookies["sessionid"])


async def test_a_token_deleted_on_one_process_closes_its_sockets_on_the_other(pair: Pair) -> None:
    made = pair.users["revoker"]
    project = made["project_id"]
    other_token = log_in_api(pair.watching, "revoker", "revoker-pass-1")
    neighbour = pair.neighbour
    async with (
        connect(pair.announced, project, made["token"]) as revoked,
        connect(pair.announced, project, made["token"]) as revoked_too,
        connect(pair.announced, project, other_token) as same_user_other_token,
        connect(pair.announced, neighbour["project_id"], neighbour["token"]) as other_user,
    ):
        closing = closes(revoked, revoked_too)
        answer = await asyncio.to_thread(
            httpx.delete,
            f"{pair.watching.url}/api/auth/token",
            headers={"Authorization": f"Token {made['token']}"},
        )
        revoked_at = time.time()
        assert answer.status_code == 204

        for close in closing:
            code, reason, when = await close
            assert (code, reason) == (4401, "token revoked")
            assert when - revoked_at < WITHIN_SECONDS
        await still_served(
            pair.announced,
            (same_user_other_token, project),
            (other_user, neighbour["project_id"]),
        )
    # And it cannot open a new one.
    async with connect(pair.watching, project, made["token"]) as again:
        assert (await close_of(again))[:2] == (4401, "")


async def test_a_logout_closes_that_sessions_sockets_on_every_process(pair: Pair) -> None:
    made = pair.users["leaver"]
    project = made["project_id"]
    with httpx.Client() as browser, httpx.Client() as other_browser:
        cookie = log_in(browser, pair.announced, "leaver", "leaver-pass-1")
        other_cookie = log_in(other_browser, pair.announced, "leaver", "leaver-pass-1")
        async with (
            connect(pair.announced, project, cookie=cookie) as page,
            connect(pair.watching, project, cookie=cookie) as second_tab,
            connect(pair.announced, project, cookie=other_cookie) as other_session,
            connect(pair.announced, project, made["token"]) as by_token,
        ):
            closing = closes(page, second_tab)
            answer = await asyncio.to_thread(
                browser.post,
                f"{pair.watching.url}/logout/",
                headers={"X-CSRFToken": browser.cookies["csrftoken"]},
            )
            logged_out_at = time.time()
            assert answer.status_code == 302, answer.text

            for close in closing:
                code, reason, when = await close
                assert (code, reason) == (4401, "session ended")
                assert when - logged_out_at < WITHIN_SECONDS
            await still_served(pair.announced, (other_session, project), (by_token, project))


async def test_a_user_deactivated_by_update_loses_every_socket(pair: Pair) -> None:
    made = pair.users["bulk"]
    project, neighbour = made["project_id"], pair.neighbour
    with httpx.Client() as browser:
        cookie = log_in(browser, pair.watching, "bulk", "bulk-pass-1")
        async with (
            connect(pair.watching, project, made["token"]) as by_token,
            connect(pair.watching, project, cookie=cookie) as by_cookie,
            connect(pair.watching, neighbour["project_id"], neighbour["token"]) as other_user,
        ):
            closing = closes(by_token, by_cookie)
            # No signal: only the watch can see this.
            done = await in_shell(
                pair.watching,
                "from django.contrib.auth.models import User\n"
                "User.objects.filter(username='bulk').update(is_active=False)",
            )

            for close in closing:
                code, reason, when = await close
                assert (code, reason) == (4401, "user deactivated or deleted")
                assert when - done < WITHIN_SECONDS
            await still_served(pair.watching, (other_user, neighbour["project_id"]))


async def test_a_password_change_closes_the_sessions_sockets(pair: Pair) -> None:
    made = pair.users["rotor"]
    project = made["project_id"]
    with httpx.Client() as browser, httpx.Client() as other_browser:
        cookie = log_in(browser, pair.watching, "rotor", "rotor-pass-1")
        other_cookie = log_in(other_browser, pair.watching, "rotor", "rotor-pass-1")
        async with (
            # Through update(): the watch sees the session's hash go stale.
            connect(pair.watching, project, cookie=cookie) as watched,
            # Through save(): the announcement closes the cookie's and the token's sockets.
            connect(pair.announced, project, cookie=other_cookie) as announced,
            connect(pair.announced, project, made["token"]) as by_token,
        ):
            (watched_close,) = closes(watched)
            done = await in_shell(
                pair.watching,
                "from django.contrib.auth.hashers import make_password\n"
                "from django.contrib.auth.models import User\n"
                "User.objects.filter(username='rotor').update(password=make_password('n-1'))",
            )
            code, reason, when = await watched_close
            assert (code, reason) == (4401, "password changed")
            assert when - done < WITHIN_SECONDS
            # As over HTTP: the page sends that session to the login.
            home = await asyncio.to_thread(browser.get, f"{pair.announced.url}/")
            assert home.status_code == 302

            closing = closes(announced, by_token)
            done = await in_shell(
                pair.watching,
                "from django.contrib.auth.models import User\n"
                "user = User.objects.get(username='rotor')\n"
                "user.set_password('new-password-2')\nuser.save()",
            )
            for close in closing:
                code, reason, when = await close
                assert (code, reason) == (4401, "password changed")
                assert when - done < WITHIN_SECONDS


async def test_a_session_expiring_or_deleted_closes_its_socket(pair: Pair) -> None:
    made = pair.users["sleeper"]
    project = made["project_id"]
    with httpx.Client() as browser, httpx.Client() as other_browser:
        cookie = log_in(browser, pair.watching, "sleeper", "sleeper-pass-1")
        other_cookie = log_in(other_browser, pair.watching, "sleeper", "sleeper-pass-1")
        async with (
            connect(pair.watching, project, cookie=cookie) as expiring,
            connect(pair.watching, project, cookie=other_cookie) as deleted,
        ):
            closing = closes(expiring, deleted)
            done = await in_shell(
                pair.watching,
                "from django.db import connection\n"
                "with connection.cursor() as cursor:\n"
                "    cursor.execute(\"UPDATE django_session SET expire_date = '2000-01-01' "
                f"WHERE session_key = '{cookie}'\")\n"
                '    cursor.execute("DELETE FROM django_session WHERE session_key = '
                f"'{other_cookie}'\")",
            )
            for close, why in zip(closing, ["session expired", "session ended"], strict=True):
                code, reason, when = await close
                assert (code, reason) == (4401, why)
                assert when - done < WITHIN_SECONDS


async def test_a_token_expiring_while_its_socket_is_open_closes_it() -> None:
    lifetime = 5.0
    days = f"{lifetime / 86400:.12f}"
    with AppServer(API_TOKEN_DAYS=days, WS_CREDENTIAL_CHECK_SECONDS="1") as server:
        server.manage("migrate", "--no-input", "-v0")
        made = create_user_and_project(server, "brief", "brief-pass-1")
        server.start()
        asked = time.time()
        token = log_in_api(server, "brief", "brief-pass-1")
        issued = time.time()
        async with connect(server, made["project_id"], token) as ws:
            code, reason, when = await close_of(ws, seconds=lifetime + 15)
        assert (code, reason) == (4401, "token expired")
        # Open until the token expired, closed soon after.
        assert when - asked >= lifetime - 0.1
        assert when - issued < lifetime + WITHIN_SECONDS
