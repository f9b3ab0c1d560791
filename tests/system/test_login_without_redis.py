"""Logins while Redis, which holds the failed-login counts, is refused, killed or frozen:
the right password logs in, wrong ones are still counted (in the process's memory), the
log says so once per outage, and the counts go back to Redis when it answers again."""

import logging
import time
from collections.abc import Iterator

import pytest
import redis
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from tests.support.servers import OwnRedis, free_port
from vibegrapher import cache as fallback_cache

pytestmark = pytest.mark.django_db

ALICE = ("alice", "alice-password-123")
UNAVAILABLE = "is unavailable"
BACK = "answers again"


@pytest.fixture(autouse=True)
def people(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    User.objects.create_user(ALICE[0], password=ALICE[1])


@pytest.fixture(autouse=True)
def _no_outage_from_earlier_tests() -> Iterator[None]:
    # Outages are remembered per process and Redis address; ports are reused.
    fallback_cache._outages.clear()
    yield
    fallback_cache._outages.clear()


def use_redis(settings, url: str, timeout: float = 1.0, retry: float = 5.0) -> None:
    """The app's cache as settings.py makes it for REDIS_URL=url."""
    settings.CACHES = {
        "default": {
            "BACKEND": "vibegrapher.cache.FallbackRedisCache",
            "LOCATION": url,
            "OPTIONS": {
                "socket_connect_timeout": timeout,
                "socket_timeout": timeout,
                "retry_seconds": retry,
            },
        }
    }


def api_login(username: str, password: str, ip: str) -> int:
    response = APIClient(REMOTE_ADDR=ip).post(
        "/api/auth/token", {"username": username, "password": password}, format="json"
    )
    return response.status_code


def page_login(username: str, password: str, ip: str) -> int:
    response = Client(REMOTE_ADDR=ip).post("/login/", {"username": username, "password": password})
    return response.status_code


def log_lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(
        text in record.getMessage()
        for record in caplog.records
        if record.name == "vibegrapher.cache" and record.levelno == logging.WARNING
    )


def login_failure_keys(client: redis.Redis) -> int:
    return len(client.keys("*login-failures:*"))


def test_logins_work_while_redis_refuses_connections(settings, caplog) -> None:
    # Nothing listens there.
    use_redis(settings, f"redis://:redis-secret@127.0.0.1:{free_port()}/0")

    assert api_login(*ALICE, "10.0.0.1") == 200
    assert page_login(*ALICE, "10.0.0.1") == 302
    assert api_login("alice", "guess", "10.0.0.1") == 401
    assert page_login("alice", "guess", "10.0.0.1") == 200  # the form again, with its error

    assert log_lines(caplog, UNAVAILABLE) == 1  # once for the outage, not per request
    assert "failed-login counts are per process" in caplog.text
    assert "redis-secret" not in caplog.text


def test_wrong_passwords_are_still_counted_while_redis_is_down(settings) -> None:
    use_redis(settings, f"redis://127.0.0.1:{free_port()}/0")
    settings.LOGIN_FAILURE_LIMIT = 3

    assert [api_login("alice", "guess", "10.0.0.1") for _ in range(3)] == [401, 401, 429]
    assert api_login(*ALICE, "10.0.0.1") == 429
    assert page_login(*ALICE, "10.0.0.1") == 429
    assert api_login(*ALICE, "10.0.0.2") == 200  # the owner, elsewhere


@pytest.mark.redis
def test_redis_killed_then_back(settings, caplog, own_redis: OwnRedis) -> None:
    use_redis(settings, own_redis.url, retry=0.2)
    settings.LOGIN_FAILURE_LIMIT = 3
    client = redis.Redis.from_url(own_redis.url)
    assert api_login("alice", "guess", "10.0.0.1") == 401
    assert login_failure_keys(client) == 2  # (alice, address) and the address, in Redis

    own_redis.kill()
    assert api_login(*ALICE, "10.0.0.2") == 200
    assert page_login(*ALICE, "10.0.0.2") == 302
    # Counted from here on in memory: Redis's count (1) is out of reach.
    assert [api_login("alice", "guess", "10.0.0.1") for _ in range(3)] == [401, 401, 429]
    assert log_lines(caplog, UNAVAILABLE) == 1

    own_redis.start()  # the same address, empty
    time.sleep(0.3)  # past retry_seconds: the next request asks Redis again
    assert api_login("alice", "guess", "10.0.0.3") == 401
    assert log_lines(caplog, BACK) == 1
    assert login_failure_keys(client) == 2  # counted in Redis again
    assert api_login(*ALICE, "10.0.0.4") == 200
    client.close()


@pytest.mark.redis
@pytest.mark.timeout(60)
def test_a_frozen_redis_does_not_hold_logins(settings, caplog, own_redis: OwnRedis) -> None:
    # Connections open, nothing answers: each cache call waits out the socket timeout
    # once, then the cache stays in memory until it tries Redis again.
    use_redis(settings, own_redis.url, timeout=0.5)
    own_redis.freeze()

    assert api_login(*ALICE, "10.0.0.1") == 200
    assert page_login(*ALICE, "10.0.0.1") == 302
    assert api_login("alice", "guess", "10.0.0.1") == 401
    assert log_lines(caplog, UNAVAILABLE) == 1
    assert "TimeoutError" in caplog.text


@pytest.mark.redis
def test_a_full_redis_does_not_stop_logins(settings, caplog, own_redis: OwnRedis) -> None:
    use_redis(settings, own_redis.url, retry=0.2)
    client = redis.Redis.from_url(own_redis.url)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1")  # less than it uses already: every write fails

    assert api_login("alice", "guess", "10.0.0.1") == 401
    assert api_login(*ALICE, "10.0.0.1") == 200
    assert log_lines(caplog, UNAVAILABLE) == 1
    assert "OutOfMemoryError" in caplog.text

    client.config_set("maxmemory", "0")
    time.sleep(0.3)
    assert api_login("alice", "guess", "10.0.0.1") == 401
    assert log_lines(caplog, BACK) == 1
    assert login_failure_keys(client) == 2
    client.close()
