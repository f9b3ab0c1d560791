"""Pytest fixtures shared across apps: the local model server (tests/support/model_server.py),
scratch PostgreSQL databases and Redis servers of a test's own."""

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import redis
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator as BaseApplicationCommunicator
from channels.testing import WebsocketCommunicator
from django.db import close_old_connections
from django.test import AsyncClient

from accounts.tokens import create_token
from tests.support.contract import validate_frame
from tests.support.model_server import ModelServer
from tests.support.servers import OwnRedis


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


def wait_for_requests(model: ModelServer, count: int, timeout: float = 20) -> None:
    """Block until the model server has had `count` requests; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while len(model.requests) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"the model got {len(model.requests)} requests, not {count}")
        time.sleep(0.05)


REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/7")
# The machine's PostgreSQL, where tests with server processes make databases of their own.
PG_SERVER = "postgres@127.0.0.1:5432"


def missing_service(message: str) -> NoReturn:
    """Skip the test for a service this machine lacks; under CI, fail it."""
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip(message)


@contextlib.contextmanager
def scratch_postgres(prefix: str, server: str = PG_SERVER) -> Iterator[str]:
    """The URL of a new database named `prefix_…` on `server` (`user[:password]@host:port`),
    dropped afterwards with any connection a killed server process left open."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(f"postgres://{server}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        missing_service(f"PostgreSQL at {server.rpartition('@')[2]} is unreachable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgres://{server}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis the multi-process tests use; missing Redis skips them, or fails under CI.

    The database must be empty at the start (it may be someone else's otherwise: set
    REDIS_TEST_URL to a free one); the keys the test made are deleted at the end.
    """
    try:
        client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
        client.ping()
        size = client.dbsize()
    except redis.RedisError as exc:
        missing_service(f"Redis at {REDIS_TEST_URL} is unreachable: {exc}")
    if size:
        client.close()
        pytest.fail(
            f"Redis database {REDIS_TEST_URL} holds {size} keys: the tests use and empty "
            "it, so it must be one only they use. Set REDIS_TEST_URL to an empty database "
            "(redis://host:port/<n>)."
        )
    try:
        yield REDIS_TEST_URL
    finally:
        # Empty at the start, so everything in it now is this test's.
        try:
            client.flushdb()
        finally:
            client.close()


# A Redis database shared with others: tests on it keep to a key prefix of their own.
REDIS_SHARED_TEST_URL = os.environ.get("REDIS_SHARED_TEST_URL", "redis://127.0.0.1:6379/11")


@pytest.fixture(scope="module")
def redis_prefixed() -> Iterator[dict[str, str]]:
    """`REDIS_URL` and a fresh `REDIS_KEY_PREFIX` for server processes, on a Redis
    database that others may use at the same time: nothing is flushed, and only the
    keys under the prefix are deleted afterwards."""
    try:
        client = redis.Redis.from_url(REDIS_SHARED_TEST_URL, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as exc:
        missing_service(f"Redis at {REDIS_SHARED_TEST_URL} is unreachable: {exc}")
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    try:
        yield {"REDIS_URL": REDIS_SHARED_TEST_URL, "REDIS_KEY_PREFIX": prefix}
    finally:
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=500))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        finally:
            client.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        missing_service("redis-server is not installed (`make test` installs it)")
    server = OwnRedis(tmp_path)
    yield server
    server.kill()


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
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    where = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    with scratch_postgres("vg_server", f"{auth}@{where}") as url:
        yield url


class TokenClient(AsyncClient):
    """An AsyncClient that sends `Authorization: Token …` with every request."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.auth = {"Authorization": f"Token {token}"}

    def generic(  # type: ignore[override]
        self, *args: Any, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        return super().generic(*args, headers={**self.auth, **(headers or {})}, **kwargs)

    async def request(self, **request: Any) -> Any:
        # Django's test client keeps its request signals from closing connections;
        # the views' sync work ran on asgiref's shared thread: close its connection,
        # as the end of a real request does.
        try:
            return await super().request(**request)
        finally:
            await sync_to_async(close_old_connections)()


@pytest.fixture
async def async_api(user) -> TokenClient:
    """An async API client for `user` (async views run on the test's event loop)."""
    token = await sync_to_async(create_token)(user)
    return TokenClient(token)


class ProjectSocket(WebsocketCommunicator):
    """channels' WebsocketCommunicator without its global patch of close_old_connections.

    channels.testing turns `channels.db.close_old_connections` into a no-op for the
    whole process while a test waits on a socket, so every `database_sync_to_async`
    job the app runs meanwhile (a run's messages, a test run's results) keeps its
    worker thread's connection open, and PostgreSQL then refuses to drop the test
    database ("being accessed by other users"). The app's jobs close their
    connections as they do in production.
    """

    async def send_input(self, message: Any) -> None:
        return await BaseApplicationCommunicator.send_input(self, message)

    async def receive_output(self, timeout: float = 1) -> Any:  # noqa: ASYNC109 (channels' API)
        message = await BaseApplicationCommunicator.receive_output(self, timeout)
        # Every event a test sees is checked against its published schema
        # (sessions_app/event_schema.py): an event and its documentation never drift.
        validate_frame(message)
        return message


async def open_project_socket(project_id: object, token: str) -> WebsocketCommunicator:
    """A connected WebSocket on a project's events, through the whole ASGI stack."""
    from vibegrapher.asgi import application  # Django's app, once settings are loaded

    socket = ProjectSocket(
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
    from testruns.sandbox import SandboxUnavailable, check_sandbox

    try:
        check_sandbox()
    except SandboxUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI=true: `make test` installs bubblewrap)")
        pytest.skip(str(exc))
