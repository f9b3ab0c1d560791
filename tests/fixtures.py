"""Pytest fixtures shared across apps: the local model server (see tests/model_server.py)."""

import os
from collections.abc import Iterator

import pytest
import redis

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
