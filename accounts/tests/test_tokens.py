"""API tokens: hashed at rest, revocable, rotated by a password change, expiring."""

import hashlib
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.tokens import create_token
from tests.support.fixtures import TokenClient

pytestmark = pytest.mark.django_db

PASSWORD = "alice-password-123"


@pytest.fixture(autouse=True)
def fast_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def log_in(username: str = "alice", password: str = PASSWORD) -> str:
    response = APIClient().post(
        "/api/auth/token", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    token: str = response.json()["token"]
    return token


def projects_status(token: str) -> int:
    return APIClient().get("/api/projects", HTTP_AUTHORIZATION=f"Token {token}").status_code


def test_the_token_is_stored_only_as_its_sha256(user: User, settings) -> None:
    token = log_in()

    stored = ApiToken.objects.get(user=user)
    assert stored.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {stored.key_hash, str(stored.pk)}
    assert len(token) >= 40  # 32 random bytes, URL-safe
    lifetime = stored.expires_at - timezone.now()
    assert timedelta(days=settings.API_TOKEN_DAYS) - lifetime < timedelta(minutes=1)
    assert projects_status(token) == 200


def test_each_login_gets_its_own_token(user: User) -> None:
    first, second = log_in(), log_in()

    assert first != second
    assert projects_status(first) == projects_status(second) == 200


def test_delete_revokes_the_presented_token_only(user: User) -> None:
    laptop, phone = log_in(), log_in()

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {laptop}")
    assert client.delete("/api/auth/token").status_code == 204

    assert projects_status(laptop) == 401
    assert client.delete("/api/auth/token").status_code == 401
    assert projects_status(phone) == 200


def test_delete_without_a_token_is_401(user: User) -> None:
    response = APIClient().delete("/api/auth/token")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_password_change_revokes_every_token(user: User) -> None:
    tokens = [log_in(), log_in()]

    user.set_password("a-new-password-456")
    user.save()

    assert [projects_status(token) for token in tokens] == [401, 401]
    assert projects_status(log_in(password="a-new-password-456")) == 200


def test_saving_a_user_without_a_new_password_keeps_the_tokens(user: User) -> None:
    token = log_in()

    user.first_name = "Alice"
    user.save()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])

    assert projects_status(token) == 200


def test_deactivation_revokes_the_tokens(user: User) -> None:
    token = log_in()

    user.is_active = False
    user.save()

    assert projects_status(token) == 401
    assert not ApiToken.objects.filter(user=user).exists()


def test_an_expired_token_is_refused(user: User) -> None:
    token = log_in()
    ApiToken.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = APIClient().get("/api/projects", HTTP_AUTHORIZATION=f"Token {token}")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or expired token."}


def test_a_new_token_clears_expired_ones(user: User, other_user: User) -> None:
    create_token(user)
    create_token(other_user)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(days=1))
    live = create_token(other_user)

    create_token(user)

    assert ApiToken.objects.filter(user=user).count() == 1
    assert list(ApiToken.objects.filter(user=other_user).values_list("key_hash", flat=True)) == [
        hashlib.sha256(live.encode()).hexdigest()
    ]


@pytest.mark.django_db(transaction=True)
async def test_the_async_views_use_the_same_tokens(user: User) -> None:
    token = await sync_to_async(create_token)(user)
    messages = f"/api/sessions/{uuid.uuid4()}/messages"

    assert (await TokenClient(token).get(messages)).status_code == 404  # authenticated

    await sync_to_async(ApiToken.objects.filter(user=user).update)(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = await TokenClient(token).get(messages)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or expired token."}
    # The helper thread's connection would outlive the test database otherwise.
    await sync_to_async(lambda: connection.close())()


def test_wrong_credentials_answer_401_and_a_malformed_body_400(user: User) -> None:
    # Well-formed credentials that match no one are an authentication failure (the
    # document's fuzzer holds a body it allows to anything but a 400).
    response = APIClient().post(
        "/api/auth/token", {"username": "alice", "password": "nope"}, format="json"
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "Unable to log in with provided credentials."}
    assert response["WWW-Authenticate"] == "Token"
    response = APIClient().post("/api/auth/token", {"username": "alice"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()
