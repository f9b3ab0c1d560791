"""The failed-login counts are shared by every server process (Redis), through real daphnes."""

import re
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.redis

# The servers read the client's address from this header, so one test plays many clients.
IP_HEADER = "X-Test-Client-IP"


def api_login(server: AppServer, username: str, password: str, ip: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/auth/token",
        json={"username": username, "password": password},
        headers={IP_HEADER: ip},
        timeout=30,
    )


def page_login(server: AppServer, username: str, password: str, ip: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, headers={IP_HEADER: ip}, timeout=30) as client:
        form = client.get("/login/").text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert csrf is not None
        return client.post(
            "/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": csrf[1]},
        )


def test_two_processes_count_the_same_failures(redis_url: str) -> None:
    # Four failures lock out here (ten by default): each costs the servers a real hash.
    env = {"REDIS_URL": redis_url, "CLIENT_IP_HEADER": IP_HEADER, "LOGIN_FAILURE_LIMIT": "4"}
    with (
        tempfile.TemporaryDirectory() as shared,
        AppServer(Path(shared), **env) as a,
        AppServer(Path(shared), **env) as b,
    ):
        a.manage("migrate", "--no-input", "-v0")
        create_user_and_project(a, username="alice", password="alice-pass-123")
        create_user_and_project(a, username="bob", password="bob-pass-123", project="B")
        a.start()
        b.start()

        statuses = [
            api_login(server, "alice", f"guess-{n}", f"10.0.0.{n}").status_code
            for n, server in enumerate([a, b] * 2)
        ]

        assert statuses == [401] * 3 + [429]  # per account, wherever the guesses landed
        locked = api_login(a, "alice", "alice-pass-123", "10.0.1.1")
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) > 0
        page = page_login(b, "alice", "alice-pass-123", "10.0.1.2")
        assert page.status_code == 429
        assert "Too many failed logins: try again in" in page.text
        assert int(page.headers["Retry-After"]) > 0
        assert api_login(b, "bob", "bob-pass-123", "10.0.1.3").status_code == 200
