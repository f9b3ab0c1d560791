"""`ended()`: which open sockets' credentials no longer authenticate, and why, in a few
queries whatever their number."""

from datetime import timedelta
from importlib import import_module

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.models import QuerySet
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.credentials import (
    PASSWORD_CHANGED,
    SESSION_ENDED,
    SESSION_EXPIRED,
    TOKEN_EXPIRED,
    TOKEN_REVOKED,
    USER_INACTIVE,
    SocketCredential,
    ended,
    session_credential,
    token_credential,
)
from accounts.models import ApiToken
from accounts.tokens import create_token, find_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def by_token(user: User) -> SocketCredential:
    token = find_token(create_token(user))
    assert token is not None
    return token_credential(user, token)


def token_row(credential: SocketCredential) -> "QuerySet[ApiToken]":
    assert credential.token_id is not None
    return ApiToken.objects.filter(pk=credential.token_id)


def by_session(user: User) -> SocketCredential:
    client = Client()
    client.force_login(user)
    return session_credential(User.objects.get(pk=user.pk), client.session.session_key or "")


def make_user(name: str) -> User:
    return User.objects.create_user(name, password=f"{name}-password-1")


def test_live_credentials_have_not_ended() -> None:
    alice = make_user("alice")

    assert ended([by_token(alice), by_session(alice)]) == {}
    assert ended([]) == {}


def test_a_deleted_or_expired_token() -> None:
    alice = make_user("alice")
    revoked, expiring, kept = by_token(alice), by_token(alice), by_token(alice)
    token_row(revoked).delete()
    token_row(expiring).update(expires_at=timezone.now())

    assert ended([revoked, expiring, kept]) == {revoked: TOKEN_REVOKED, expiring: TOKEN_EXPIRED}


def test_a_deleted_or_expired_session() -> None:
    alice = make_user("alice")
    deleted, expiring, kept = by_session(alice), by_session(alice), by_session(alice)
    Session.objects.filter(session_key=deleted.session_key).delete()
    Session.objects.filter(session_key=expiring.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    assert ended([deleted, expiring, kept]) == {deleted: SESSION_ENDED, expiring: SESSION_EXPIRED}


def test_a_password_changed_by_update_ends_the_sessions_not_the_tokens() -> None:
    alice = make_user("alice")
    session, token = by_session(alice), by_token(alice)
    User.objects.filter(pk=alice.pk).update(password=make_password("another-one-2"))

    # The token still authenticates over HTTP (only `save()` revokes tokens); the
    # session's hash does not, as Django's `get_user` would find.
    assert ended([session, token]) == {session: PASSWORD_CHANGED}


@pytest.mark.parametrize("how", ["update", "raw SQL delete"])
def test_a_user_deactivated_or_deleted_behind_the_orms_back(how: str) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    gone = [by_token(alice), by_session(alice)]
    kept = [by_token(bob), by_session(bob)]
    if how == "update":
        User.objects.filter(pk=alice.pk).update(is_active=False)
    else:
        with connection.cursor() as cursor:
            rows = [(ApiToken._meta.db_table, "user_id"), (User._meta.db_table, "id")]
            for table, column in rows:
                cursor.execute(f"DELETE FROM {table} WHERE {column} = %s", [alice.pk])

    assert ended([*gone, *kept]) == dict.fromkeys(gone, USER_INACTIVE)


def test_three_queries_for_any_number_of_sockets() -> None:
    users = [make_user(f"user{n}") for n in range(5)]
    credentials = [by_token(user) for user in users for _ in range(20)]
    credentials += [by_session(user) for user in users for _ in range(20)]
    User.objects.filter(pk=users[0].pk).update(is_active=False)

    with CaptureQueriesContext(connection) as queries:
        result = ended(credentials)

    assert len(queries) == 3  # users, tokens, sessions
    assert len(result) == 40 and set(result.values()) == {USER_INACTIVE}


def test_more_keys_than_one_batch(settings, monkeypatch) -> None:
    monkeypatch.setattr("accounts.credentials.BATCH", 3)
    alice = make_user("alice")
    tokens = [by_token(alice) for _ in range(7)]
    token_row(tokens[5]).delete()

    assert ended(tokens) == {tokens[5]: TOKEN_REVOKED}


def test_a_session_engine_without_a_table(settings) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    alice = make_user("alice")
    logged_out, kept = by_session(alice), by_session(alice)
    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore
    SessionStore(session_key=logged_out.session_key).delete()

    with CaptureQueriesContext(connection) as queries:
        assert ended([logged_out, kept]) == {logged_out: SESSION_ENDED}
    assert len(queries) == 1  # the users; sessions are read from the cache
