"""Pytest fixtures shared across apps: the local model server (see tests/model_server.py)."""

from collections.abc import Iterator

import pytest

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
