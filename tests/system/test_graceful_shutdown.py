"""SIGTERM with a request in flight, on the production server (`vibegrapher.server.serve`).

Two daphne processes behind the parent (WEB_PROCESSES=2, Redis), DEBUG off, a real
signal. The request awaits async work (a sandboxed test that sleeps): it once was
dropped without an answer while its process hung on until SIGKILL. Now it is answered
(its result when it finishes within SHUTDOWN_GRACE_SECONDS, a 503 with Retry-After
otherwise), and the server exits within the grace period either way.
"""

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import AppServer, OwnRedis, create_user_and_project

# As Fly's proxy says the client came over HTTPS (else DEBUG off redirects to it).
PROXY = {"X-Forwarded-Proto": "https"}
SLEEPY_TEST = "import time\n\ntime.sleep({seconds})\n"
# Beyond the grace period: interpreter start, the signal's hop to the children.
EXIT_SLACK = 2.0


class ProductionServer(AppServer):
    processes = 2


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[OwnRedis]:
    own = OwnRedis(tmp_path)
    yield own
    own.kill()


def _server(tmp_path: Path, redis: OwnRedis, grace: float) -> tuple[AppServer, dict[str, str]]:
    server = ProductionServer(
        tmp_path,
        DEBUG="false",
        SECRET_KEY="graceful-shutdown-test-key-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1",
        REDIS_URL=redis.url,
        TEST_SANDBOX="unsafe-subprocess",
        SHUTDOWN_GRACE_SECONDS=str(grace),
        LOG_LEVEL="INFO",
    )
    server.manage("migrate", "--no-input", "-v0")
    made = create_user_and_project(server)
    server.python(
        "import json; from projects.models import TestCase; "
        f"TestCase.objects.create(project_id={made['project_id']!r}, name='slow', "
        f"test_code={SLEEPY_TEST.format(seconds=6)!r}, quick_test=False); print(1)"
    )
    server.start()
    return server, made


def _run_tests_then_sigterm(
    server: AppServer, made: dict[str, str]
) -> tuple[httpx.Response | Exception, float, float]:
    """POST the test run, SIGTERM the server while it runs; the answer, the seconds
    from the signal to the answer and from the signal to the server's exit."""
    answer: list[httpx.Response | Exception] = []
    answered_at: list[float] = []

    def post() -> None:
        try:
            answer.append(
                httpx.post(
                    f"{server.url}/api/projects/{made['project_id']}/tests/run",
                    headers={"Authorization": f"Token {made['token']}", **PROXY},
                    json={},
                    timeout=30,
                )
            )
        except httpx.HTTPError as exc:
            answer.append(exc)
        answered_at.append(time.monotonic())

    client = threading.Thread(target=post)
    client.start()
    time.sleep(1.5)  # the test is running in its sandbox
    assert server.process is not None and server.process.poll() is None
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=30)
    exited = time.monotonic() - signalled
    client.join(30)
    return answer[0], answered_at[0] - signalled, exited


def test_a_request_in_flight_at_sigterm_finishes_and_the_server_exits(
    tmp_path: Path, redis: OwnRedis
) -> None:
    grace = 12.0
    server, made = _server(tmp_path, redis, grace)
    try:
        answer, answered, exited = _run_tests_then_sigterm(server, made)
    finally:
        server.stop()
    assert isinstance(answer, httpx.Response), f"dropped: {answer!r}"
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["status"] == "passed", answer.text
    assert answered < grace
    assert answer.headers["connection"] == "close"
    assert exited < grace + EXIT_SLACK, f"exited {exited:.1f} s after SIGTERM"


def test_a_request_that_cannot_finish_in_the_grace_period_is_answered_503(
    tmp_path: Path, redis: OwnRedis
) -> None:
    grace = 3.0
    server, made = _server(tmp_path, redis, grace)
    try:
        answer, answered, exited = _run_tests_then_sigterm(server, made)
    finally:
        server.stop()
    assert isinstance(answer, httpx.Response), f"dropped: {answer!r}"
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"].isdigit()
    body: dict[str, Any] = answer.json()
    assert "server is restarting" in body["detail"]
    assert answered < grace
    assert exited < grace + EXIT_SLACK, f"exited {exited:.1f} s after SIGTERM"
