"""The failed-login counts are shared by every server process (Redis), and logins go on
while Redis is down, through real daphnes."""

import re
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.support.servers import AppServer, OwnRedis, create_user_and_project

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
            api_login(server, "alice", f"guess-{n}", "10.0.0.9").status_code
            for n, server in enumerate([a, b] * 2)
        ]

        assert statuses == [401] * 3 + [429]  # one count, wherever the guesses landed
        locked = api_login(a, "alice", "alice-pass-123", "10.0.0.9")
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) > 0
        page = page_login(b, "alice", "alice-pass-123", "10.0.0.9")
        assert page.status_code == 429
        assert "Too many failed logins: try again in" in page.text
        assert int(page.headers["Retry-After"]) > 0
        # The owner from elsewhere, and others from the guesser's address, log in.
        assert api_login(b, "alice", "alice-pass-123", "10.0.1.1").status_code == 200
        assert api_login(a, "bob", "bob-pass-123", "10.0.0.9").status_code == 200


def test_logins_go_on_while_redis_is_down(own_redis: OwnRedis, tmp_path: Path) -> None:
    env = {"REDIS_URL": own_redis.url, "CLIENT_IP_HEADER": IP_HEADER, "LOGIN_FAILURE_LIMIT": "4"}
    with AppServer(tmp_path, **env) as server:
        server.manage("migrate", "--no-input", "-v0")
        create_user_and_project(server, username="alice", password="alice-pass-123")
        server.start()

        own_redis.kill()

        token = api_login(server, "alice", "alice-pass-123", "10.0.0.1")
        assert token.status_code == 200 and token.json()["token"]
        page = page_login(server, "alice", "alice-pass-123", "10.0.0.1")
        assert page.status_code == 302 and page.headers["Location"] == "/"
        statuses = [
            api_login(server, "alice", f"guess-{n}", "10.0.0.2").status_code for n in range(4)
        ]
        assert statuses == [401] * 3 + [429]  # still counted, in the server's memory
        assert page_login(server, "alice", "alice-pass-123", "10.0.0.2").status_code == 429
        assert api_login(server, "alice", "alice-pass-123", "10.0.0.3").status_code == 200
        log = server.log.read_text()
        assert log.count("is unavailable") == 1, log
        assert "failed-login counts are per process until it is back" in log
        assert " 500 " not in log and "Internal Server Error" not in log, log
