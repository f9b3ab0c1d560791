"""Fixtures shared by every app's tests."""

import os
from pathlib import Path

# The SDK exports traces to OpenAI's host, which tests never reach.
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
os.environ.setdefault("DEBUG", "true")

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.test import APIClient

from accounts.tokens import create_token

# Cross-app test support (the local OpenAI-compatible model server and its fixtures).
pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings) -> Path:
    """Every test gets its own MEDIA_ROOT: repositories and memory files never leak."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture(params=["filesystem", "database"])
def git_storage(request: pytest.FixtureRequest, settings) -> str:
    """Each git and review test runs on both stores of GIT_STORAGE.

    The database store needs the database: a test that asks for neither `db` nor
    `transactional_db` gets `db`.
    """
    settings.GIT_STORAGE = request.param
    if (
        request.param == "database"
        and not {"db", "transactional_db"} & set(request.fixturenames)
        and request.node.get_closest_marker("django_db") is None
    ):
        request.getfixturevalue("db")
    return str(request.param)


@pytest.fixture(autouse=True)
def _fresh_login_counts() -> None:
    """Failed-login counts (django-axes, in the cache) never leak from one test to the next.

    Only the process-local cache is cleared: a Redis cache may be someone else's data.
    """
    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()


@pytest.fixture
def user(db) -> User:
    return User.objects.create_user("alice", password="alice-password-123")


@pytest.fixture
def other_user(db) -> User:
    return User.objects.create_user("bob", password="bob-password-123")


def _token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_token(user)}")
    return client


@pytest.fixture
def api(user: User) -> APIClient:
    """An API client authenticated as `user` with a DRF token."""
    return _token_client(user)


@pytest.fixture
def other_api(other_user: User) -> APIClient:
    """An API client authenticated as `other_user`."""
    return _token_client(other_user)


@pytest.fixture
def anon_api() -> APIClient:
    return APIClient()
