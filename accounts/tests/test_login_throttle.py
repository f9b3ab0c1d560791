"""Password guessing: the 10th wrong password for an account or from an IP answers 429
with Retry-After, on the API and on the login page; others are not affected."""

import time

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ALICE, BOB = ("alice", "alice-password-123"), ("bob", "bob-password-123")


@pytest.fixture(autouse=True)
def people(settings) -> None:
    # The lockout counts attempts, not hashing time: a cheap hasher keeps this quick.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for username, password in (ALICE, BOB):
        User.objects.create_user(username, password=password)


def api_login(username: str, password: str, ip: str) -> tuple[int, dict, str | None]:
    response = APIClient(REMOTE_ADDR=ip).post(
        "/api/auth/token", {"username": username, "password": password}, format="json"
    )
    return response.status_code, response.json(), response.get("Retry-After")


def page_login(username: str, password: str, ip: str):
    client = Client(REMOTE_ADDR=ip)
    return client.post("/login/", {"username": username, "password": password})


def test_api_the_tenth_wrong_password_locks_the_account_out(settings) -> None:
    statuses = [api_login("alice", f"guess-{n}", "10.0.0.1")[0] for n in range(10)]

    assert statuses == [401] * 9 + [429]
    status, body, retry_after = api_login(*ALICE, "10.0.0.1")
    assert status == 429  # the right password too: the lockout holds until it ends
    assert retry_after == str(settings.LOGIN_LOCKOUT_SECONDS)
    assert body == {
        "detail": f"Too many failed logins: try again in {settings.LOGIN_LOCKOUT_SECONDS} seconds."
    }
    # Per account: from another address, alice stays locked out ...
    assert api_login(*ALICE, "10.0.0.2")[0] == 429
    # ... while another account from another address logs in.
    status, body, _ = api_login(*BOB, "10.0.0.3")
    assert status == 200 and body["token"]


def test_api_ten_wrong_passwords_from_one_ip_lock_that_ip_out() -> None:
    statuses = [api_login(f"nobody-{n}", "guess", "10.0.0.1")[0] for n in range(10)]

    assert statuses == [401] * 9 + [429]
    assert api_login(*BOB, "10.0.0.1")[0] == 429  # per IP: any account from it
    assert api_login(*BOB, "10.0.0.2")[0] == 200  # the account itself is fine


def test_login_page_the_tenth_wrong_password_shows_the_wait(settings) -> None:
    responses = [page_login("alice", f"guess-{n}", "10.0.0.1") for n in range(10)]

    assert [r.status_code for r in responses] == [200] * 9 + [429]
    locked = responses[-1]
    assert locked["Retry-After"] == str(settings.LOGIN_LOCKOUT_SECONDS)
    assert (
        f"Too many failed logins: try again in {settings.LOGIN_LOCKOUT_SECONDS} seconds."
        in locked.content.decode()
    )
    assert page_login(*ALICE, "10.0.0.1").status_code == 429
    # The page and the API share the count: the account is locked on both.
    assert api_login(*ALICE, "10.0.0.2")[0] == 429
    welcome = page_login(*BOB, "10.0.0.3")
    assert welcome.status_code == 302 and welcome["Location"] == "/"


def test_the_lockout_ends_after_its_time(settings) -> None:
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT_SECONDS = 1
    statuses = [api_login("alice", "guess", "10.0.0.1")[0] for _ in range(3)]
    assert statuses == [401, 401, 429]

    time.sleep(1.2)

    assert api_login(*ALICE, "10.0.0.1")[0] == 200


def test_a_right_password_does_not_add_to_the_count(settings) -> None:
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(5):
        assert api_login(*ALICE, "10.0.0.1")[0] == 200
    assert [api_login("alice", "guess", "10.0.0.1")[0] for _ in range(3)] == [401, 401, 429]


def test_the_client_ip_header_when_behind_a_proxy(settings) -> None:
    settings.CLIENT_IP_HEADER = "Fly-Client-IP"

    def login(ip: str) -> int:
        response = APIClient(REMOTE_ADDR="172.16.0.1", HTTP_FLY_CLIENT_IP=ip).post(
            "/api/auth/token", {"username": "nobody", "password": "guess"}, format="json"
        )
        return response.status_code

    # One attacker (one address) is locked out; the proxy's address is not.
    settings.LOGIN_FAILURE_LIMIT = 3
    assert [login("203.0.113.9") for _ in range(3)] == [401, 401, 429]
    response = APIClient(REMOTE_ADDR="172.16.0.1", HTTP_FLY_CLIENT_IP="198.51.100.7").post(
        "/api/auth/token", {"username": "bob", "password": BOB[1]}, format="json"
    )
    assert response.status_code == 200
