"""Hostile HTTP input: huge bodies, deep JSON, unknown /api/ paths. Always a JSON 4xx.

In process: DRF views, the async views and the token endpoint through Django's test
client; the body-size middleware as an ASGI app. Against a real daphne: refused
bodies (declared and chunked) and the process's memory under four 40 MB bodies.
"""

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import DisallowedHost, RequestDataTooBig, SuspiciousOperation
from django.test import RequestFactory

from projects.services import create_project
from sessions_app.services import get_or_create_session
from tests.support.servers import AppServer
from vibegrapher import api_errors
from vibegrapher.body_limit import BodySizeLimit, body_limit

CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'
DEEP = 100_000


def nested_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def post_raw(client: Any, url: str, body: str) -> Any:
    return client.generic("POST", url, body, content_type="application/json")


# --- Deep JSON -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("body", [nested_array(DEEP), nested_object(DEEP), nested_array(65)])
def test_deep_json_is_a_400_on_a_drf_view(api, body: str) -> None:
    response = post_raw(api, "/api/projects", body)

    assert response.status_code == 400
    assert "nested deeper than 64 levels" in response.json()["detail"]


@pytest.mark.django_db
def test_json_at_the_depth_limit_is_accepted(api) -> None:
    # {"name": ..., "extra": [[...]]}: the object is level 1, the innermost list level 64.
    body = '{"name": "Deep Enough", "extra": ' + nested_array(63) + "}"

    assert post_raw(api, "/api/projects", body).status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("body", [nested_array(DEEP), nested_object(DEEP)])
def test_deep_json_is_a_400_on_an_async_view(api, user: User, body: str) -> None:
    session = get_or_create_session(create_project(user, "Deep", CODE), "global")[0]

    response = post_raw(api, f"/api/sessions/{session.id}/messages", body)

    assert response.status_code == 400
    assert "nested deeper than 64 levels" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [nested_array(DEEP), nested_object(DEEP)])
def test_deep_json_is_a_400_on_the_token_endpoint_without_credentials(anon_api, body) -> None:
    response = post_raw(anon_api, "/api/auth/token", body)

    assert response.status_code == 400
    assert "nested deeper than 64 levels" in response.json()["detail"]


@pytest.mark.django_db
def test_a_body_django_will_not_read_is_a_json_413_on_an_async_view(api, user, settings) -> None:
    # Behind the middleware this never arrives; without it Django's own limit answers.
    session = get_or_create_session(create_project(user, "Big", CODE), "global")[0]
    body = '{"prompt": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"}'

    response = post_raw(api, f"/api/sessions/{session.id}/messages", body)

    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


# --- Every /api/ answer is JSON ----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/nope"),
        ("post", "/api"),
        ("get", "/api/"),
        ("post", "/api/nope"),
        ("delete", "/api/nope/deeper/"),
        ("get", "/api/projects/"),
        ("get", "/api/projects/not-a-uuid"),
        ("post", "/api/sessions/12345/messages"),
        ("get", f"/api/diffs/{uuid.uuid4()}/preview/"),
        # Newlines: `.` and `$` in a route's regex let them through to Django's HTML 404.
        ("patch", "/api/tests/%0A>x"),
        ("get", "/api/projects%0A"),
        ("get", f"/api/projects/{uuid.uuid4()}%0A"),
        ("get", "/api%0A"),
        ("get", "/api/x%0D%0Ay"),
    ],
)
def test_unknown_api_paths_are_json_404s(api, method: str, path: str) -> None:
    response = getattr(api, method)(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert unquote(path) in response.json()["detail"]


@pytest.mark.django_db
def test_wrong_methods_are_json_405s(api) -> None:
    drf = api.put("/api/projects", {}, format="json")
    plain_async = api.get(f"/api/diffs/{uuid.uuid4()}/review")

    for response in (drf, plain_async):
        assert response.status_code == 405
        assert "not allowed" in response.json()["detail"]


@pytest.mark.django_db
def test_missing_objects_are_json_404s(api) -> None:
    response = api.get(f"/api/projects/{uuid.uuid4()}")

    assert response.status_code == 404 and "detail" in response.json()


@pytest.mark.django_db
def test_async_views_answer_errors_as_drf_does(api) -> None:
    missing = api.post(f"/api/diffs/{uuid.uuid4()}/review", {"approved": True}, format="json")
    bad = api.post(f"/api/diffs/{uuid.uuid4()}/test", {"quick_only": []}, format="json")

    assert missing.status_code == 404 and missing.json() == {"detail": "No such diff."}
    assert bad.status_code in (400, 404) and bad.headers["Content-Type"] == "application/json"


def test_server_errors_under_api_are_json(rf: RequestFactory) -> None:
    api = api_errors.server_error(rf.get("/api/projects"))
    page = api_errors.server_error(rf.get("/"))

    assert api.status_code == 500 and json.loads(api.content) == {
        "detail": "Internal server error."
    }
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_django_refusals_under_api_are_json(rf: RequestFactory) -> None:
    too_big = api_errors.exception_handler(RequestDataTooBig("Upload too large."), {})
    suspicious = api_errors.exception_handler(SuspiciousOperation("Odd."), {})
    bad_host = api_errors.bad_request(rf.get("/api/projects"), DisallowedHost("evil"))

    assert too_big is not None and too_big.status_code == 413
    assert too_big.data == {"detail": "The request body is too large: Upload too large."}
    assert suspicious is not None and suspicious.status_code == 400
    assert bad_host.status_code == 400 and json.loads(bad_host.content) == {
        "detail": "Bad request."
    }


# --- Body size, in front of Django ---------------------------------------------------


class EchoApp:
    """An ASGI app that answers with the body it was given, to see what passes."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.called = True
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


async def call(app: Any, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]):
    """Run `app` on one request; the body's chunks, what it sent and what it left unread."""
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    await app(scope, receive, send)
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, dict(sent[0]["headers"]), body, len(pending)


def test_each_route_has_its_limit(settings) -> None:
    assert body_limit("/api/auth/token") == (16384, "MAX_BODY_BYTES_AUTH")
    assert body_limit("/login/") == (16384, "MAX_BODY_BYTES_AUTH")
    assert body_limit(f"/api/sessions/{uuid.uuid4()}/messages") == (262144, "MAX_BODY_BYTES_PROMPT")
    assert body_limit("/api/projects") == (262144, "MAX_BODY_BYTES_CODE")
    assert body_limit(f"/api/projects/{uuid.uuid4()}/tests") == (262144, "MAX_BODY_BYTES_CODE")
    assert body_limit(f"/api/tests/{uuid.uuid4()}") == (262144, "MAX_BODY_BYTES_CODE")
    assert body_limit(f"/api/diffs/{uuid.uuid4()}/review") == (131072, "MAX_BODY_BYTES_DEFAULT")
    settings.MAX_BODY_BYTES_AUTH = 100
    assert body_limit("/api/auth/token") == (100, "MAX_BODY_BYTES_AUTH")


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    app = EchoApp()
    chunks = [b"x" * 9000, b"x" * 9000]

    status, headers, body, unread = await call(
        BodySizeLimit(app), "/api/auth/token", chunks, [(b"content-length", b"18000")]
    )

    assert status == 413 and not app.called
    assert headers[b"content-type"] == b"application/json"
    assert json.loads(body)["detail"] == (
        "The request body is larger than 16384 bytes, the limit here (MAX_BODY_BYTES_AUTH)."
    )
    assert unread == 0  # what the server had queued was read and dropped


async def test_a_chunked_body_is_refused_once_it_passes_the_limit() -> None:
    app = EchoApp()
    chunks = [b"x" * 6000, b"x" * 6000, b"x" * 6000]

    status, _, body, _ = await call(BodySizeLimit(app), "/api/auth/token", chunks, [])

    assert status == 413 and not app.called
    assert "16384 bytes" in json.loads(body)["detail"]


async def test_a_body_within_the_limit_reaches_the_app_whole() -> None:
    app = EchoApp()
    chunks = [b"a" * 2000, b"b" * 2000]

    status, _, body, _ = await call(BodySizeLimit(app), "/api/auth/token", chunks, [])

    assert status == 200 and body == b"a" * 2000 + b"b" * 2000


# --- A real daphne -----------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.fixture(scope="module")
def daphne() -> Iterator[AppServer]:
    # No migration: nothing here reaches a table (refused bodies never reach Django).
    with AppServer() as server:
        server.start(healthy=False)
        yield server


def test_large_bodies_are_json_413s_from_daphne(daphne: AppServer) -> None:
    prompt = {"prompt": "x" * 10_000_000}
    url = f"{daphne.url}/api/sessions/{uuid.uuid4()}/messages"
    declared = httpx.post(url, json=prompt, timeout=30)

    def chunked() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 1000

    streamed = httpx.post(f"{daphne.url}/api/auth/token", content=chunked(), timeout=30)

    assert declared.status_code == 413
    assert declared.json()["detail"].endswith("(MAX_BODY_BYTES_PROMPT).")
    assert streamed.status_code == 413
    assert streamed.json()["detail"].endswith("(MAX_BODY_BYTES_AUTH).")
    assert httpx.get(f"{daphne.url}/api/nope").json()["detail"].startswith("No API endpoint")


def raw_request(port: int, request: bytes) -> tuple[int, str, Any]:
    """Send exact bytes (no client normalises the path); the status, type and JSON body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), json.loads(body)


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (b"/api/%FF%FE", 404),  # not UTF-8
        (b"/api/projects/%C3%28", 404),
        (b"/api/%00", 404),
        (b"/api/tests/%0A%3E%C2%9E%09", 404),
        (b"/api%0A", 404),
        (b"/api/projects%0D%0A", 404),
        (b"/api/../api/projects/x", 404),
        (b"/api/%2e%2e/%2e%2e/etc/passwd", 404),
        (b"/api/" + b"a" * 15_000, 404),
        (b"/api/" + b"a" * 20_000, 414),  # over twisted's 16 KB request line
        (b"/api/projects?limit=" + b"9" * 70_000, 414),
    ],
)
def test_every_path_under_api_is_answered_in_json_by_daphne(
    daphne: AppServer, target: bytes, status: int
) -> None:
    request = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

    answer_status, content_type, body = raw_request(daphne.port, request)

    assert (answer_status, content_type) == (status, "application/json")
    assert body["detail"]


def test_oversized_and_malformed_headers_are_answered_in_json_by_daphne(daphne: AppServer) -> None:
    long_header = b"GET /api/projects HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    many_headers = b"GET /api/projects HTTP/1.1\r\n" + b"X-A: b\r\n" * 600 + b"\r\n"
    malformed = b"GET\r\n\r\n"

    assert raw_request(daphne.port, long_header)[:2] == (431, "application/json")
    assert raw_request(daphne.port, many_headers)[:2] == (400, "application/json")
    status, _, body = raw_request(daphne.port, malformed)
    assert status == 400 and body["detail"].startswith("Bad request")


def test_four_concurrent_40_mb_bodies_leave_daphne_memory_flat(daphne: AppServer) -> None:
    assert daphne.process is not None
    pid = daphne.process.pid
    url = f"{daphne.url}/api/auth/token"
    for _ in range(3):  # warm up: imports and first-request allocations happen here
        httpx.post(url, json={"username": "x", "password": "y"}, timeout=30)
    before = rss_mb(pid)
    body = b'{"username": "' + b"a" * (40 * 1024 * 1024) + b'"}'
    statuses: list[int] = []

    def send() -> None:
        response = httpx.post(
            url, content=body, headers={"Content-Type": "application/json"}, timeout=60
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(0.5)
    after = rss_mb(pid)

    assert statuses == [413] * 4
    assert after - before < 50, f"daphne went from {before:.0f} MB to {after:.0f} MB"
