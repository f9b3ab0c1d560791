"""Password guessing: the 10th wrong password for an account from one address, or the
50th from one address for any accounts, answers 429 with Retry-After, on the API, the
login page and the admin's login; the account's owner elsewhere is not affected."""

import time
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
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


def test_api_the_tenth_wrong_password_locks_that_account_from_that_address(settings) -> None:
    statuses = [api_login("alice", f"guess-{n}", "10.0.0.1")[0] for n in range(10)]

    assert statuses == [401] * 9 + [429]
    status, body, retry_after = api_login(*ALICE, "10.0.0.1")
    assert status == 429  # the right password too: the lockout holds until it ends
    assert retry_after == str(settings.LOGIN_LOCKOUT_SECONDS)
    assert body == {
        "detail": f"Too many failed logins: try again in {settings.LOGIN_LOCKOUT_SECONDS} seconds."
    }
    # The guesser cannot lock the owner out: alice logs in from her own address ...
    status, body, _ = api_login(*ALICE, "10.0.0.2")
    assert status == 200 and body["token"]
    # ... and the guesser's address, under its own limit, still serves other accounts.
    assert api_login(*BOB, "10.0.0.1")[0] == 200


def test_guessing_at_one_account_from_many_addresses_never_locks_its_owner_out() -> None:
    # More failures for alice in all than the per-address limit: no count by username.
    for address in range(6):
        statuses = [api_login("alice", "guess", f"10.1.0.{address}")[0] for _ in range(10)]
        assert statuses == [401] * 9 + [429]

    assert api_login(*ALICE, "10.0.0.2")[0] == 200


def test_many_failures_from_one_address_lock_the_address(settings) -> None:
    # Spraying: a few guesses at each of many accounts stays under the per-account limit.
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 20
    statuses = [api_login(f"nobody-{n % 7}", "guess", "10.0.0.1")[0] for n in range(20)]

    assert statuses == [401] * 19 + [429]
    assert api_login(*BOB, "10.0.0.1")[0] == 429  # the address: any account from it
    assert api_login(*BOB, "10.0.0.2")[0] == 200  # the account itself is fine


def test_the_default_address_limit_is_above_the_account_limit(settings) -> None:
    assert settings.LOGIN_ADDRESS_FAILURE_LIMIT > settings.LOGIN_FAILURE_LIMIT
    statuses = [
        api_login(f"nobody-{n}", "guess", "10.0.0.1")[0]
        for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT)
    ]

    assert statuses == [401] * (settings.LOGIN_ADDRESS_FAILURE_LIMIT - 1) + [429]


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
    # The page and the API share the count: alice is locked from that address on both ...
    assert api_login(*ALICE, "10.0.0.1")[0] == 429
    # ... and logs in from another.
    welcome = page_login(*ALICE, "10.0.0.2")
    assert welcome.status_code == 302 and welcome["Location"] == "/"


def test_the_admin_login_counts_and_locks_the_same_way(settings) -> None:
    User.objects.create_superuser("root", password="root-password-123")
    settings.LOGIN_FAILURE_LIMIT = 3

    def admin_login(password: str, ip: str) -> int:
        client = Client(REMOTE_ADDR=ip)
        data = {"username": "root", "password": password, "next": "/admin/"}
        return client.post("/admin/login/", data).status_code

    assert [admin_login("guess", "10.0.0.1") for _ in range(3)] == [200, 200, 429]
    assert admin_login("root-password-123", "10.0.0.1") == 429
    assert api_login("root", "root-password-123", "10.0.0.1")[0] == 429  # one count
    assert admin_login("root-password-123", "10.0.0.2") == 302


def test_each_failure_while_locked_out_restarts_the_wait(settings) -> None:
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT_SECONDS = 3
    assert [api_login("alice", "guess", "10.0.0.1")[0] for _ in range(3)] == [401, 401, 429]

    time.sleep(1.5)
    assert api_login("alice", "guess", "10.0.0.1")[0] == 429  # counted: the wait restarts
    time.sleep(2)  # past the first lockout's end, inside the restarted one

    assert api_login(*ALICE, "10.0.0.1")[0] == 429


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
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    assert [login("203.0.113.9") for _ in range(3)] == [401, 401, 429]
    response = APIClient(REMOTE_ADDR="172.16.0.1", HTTP_FLY_CLIENT_IP="198.51.100.7").post(
        "/api/auth/token", {"username": "bob", "password": BOB[1]}, format="json"
    )
    assert response.status_code == 200


def test_an_operator_lifts_a_lockout_with_axes_reset_commands(settings) -> None:
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    assert [api_login("alice", "guess", "10.0.0.1")[0] for _ in range(3)] == [401, 401, 429]
    assert api_login(*BOB, "10.0.0.1")[0] == 429  # the address too

    out = StringIO()
    call_command("axes_reset_ip", "10.0.0.1", stdout=out)
    assert "1 attempts removed" in out.getvalue()
    assert api_login(*BOB, "10.0.0.1")[0] == 200
    assert api_login(*ALICE, "10.0.0.1")[0] == 429  # the pair's own count is still there

    call_command("axes_reset_ip_username", "10.0.0.1", "alice", stdout=StringIO())
    assert api_login(*ALICE, "10.0.0.1")[0] == 200
