"""Pytest fixtures shared across apps: the local model server (see tests/model_server.py)."""

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient
from rest_framework.authtoken.models import Token

from tests.model_server import ModelServer


def _serve(settings, api: str) -> Iterator[ModelServer]:
    server = ModelServer()
    server.start()
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_API = api
    settings.OPENAI_TRACING = "off"
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def model_server(settings) -> Iterator[ModelServer]:
    """A fresh local Responses-API model server for one test; the app points at it."""
    yield from _serve(settings, "responses")


@pytest.fixture
def chat_model_server(settings) -> Iterator[ModelServer]:
    """The same, with the app using Chat Completions (so `submit_patch` is a function tool)."""
    yield from _serve(settings, "chat_completions")


REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/7")


@pytest.fixture
def redis_url() -> str:
    """The Redis the multi-process tests use; missing Redis skips them, or fails under CI."""
    try:
        client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
        client.ping()
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        message = f"Redis at {REDIS_TEST_URL} is unreachable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: a missing service is a failure)")
        pytest.skip(message)
    return REDIS_TEST_URL


@pytest.fixture
def server_database(settings, tmp_path) -> Iterator[str]:
    """A DATABASE_URL for a server process, on the database kind of this test pass.

    SQLite: a file in the test's directory. PostgreSQL: a fresh database on the same
    server as the test database, dropped afterwards (the test database itself is
    inside the test's transaction and invisible to another process).
    """
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        yield f"sqlite:///{tmp_path / 'server.sqlite3'}"
        return
    import psycopg

    name = f"vg_server_{uuid.uuid4().hex[:12]}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    where = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    admin = psycopg.connect(f"postgres://{auth}@{where}/postgres", autocommit=True)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgres://{auth}@{where}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class TokenClient(AsyncClient):
    """An AsyncClient that sends `Authorization: Token …` with every request."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.auth = {"Authorization": f"Token {token}"}

    def generic(  # type: ignore[override]
        self, *args: Any, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        return super().generic(*args, headers={**self.auth, **(headers or {})}, **kwargs)


@pytest.fixture
async def async_api(user) -> TokenClient:
    """An async API client for `user` (async views run on the test's event loop)."""
    token = await sync_to_async(lambda: Token.objects.get_or_create(user=user)[0].key)()
    return TokenClient(token)


async def open_project_socket(project_id: object, token: str) -> WebsocketCommunicator:
    """A connected WebSocket on a project's events, through the whole ASGI stack."""
    from vibegrapher.asgi import application  # Django's app, once settings are loaded

    socket = WebsocketCommunicator(
        application,
        f"/ws/projects/{project_id}/?token={token}",
        headers=[(b"origin", b"http://localhost")],
    )
    connected, _ = await socket.connect()
    assert connected
    return socket


@pytest.fixture
def bubblewrap() -> None:
    """The diff-test sandbox can run here; skips the test otherwise, or fails under CI."""
    from reviews.sandbox import SandboxUnavailable, check_sandbox

    try:
        check_sandbox()
    except SandboxUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI=true: `make test` installs bubblewrap)")
        pytest.skip(str(exc))
