"""API tokens: random, stored as SHA-256, expiring after `API_TOKEN_DAYS`.

A token is 32 random bytes (`secrets`), so a plain SHA-256 is enough to store it:
unlike a password it cannot be guessed from a dictionary, and one hash per request
costs nothing. Only the hash is kept, so the database never holds a working token.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiToken


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_token(user: User) -> str:
    """A new token for `user`; the key is returned once and never stored."""
    now = timezone.now()
    # Expired tokens (anyone's) are dead rows: each login clears them (indexed), so
    # the table holds only live tokens without a periodic job.
    ApiToken.objects.filter(expires_at__lte=now).delete()
    key = secrets.token_urlsafe(32)
    ApiToken.objects.create(
        user=user,
        key_hash=_hash(key),
        expires_at=now + timedelta(days=settings.API_TOKEN_DAYS),
    )
    return key


def _live(key: str) -> QuerySet[ApiToken]:
    """The unexpired token with this key whose user is active (zero or one row)."""
    return ApiToken.objects.select_related("user").filter(
        key_hash=_hash(key), expires_at__gt=timezone.now(), user__is_active=True
    )


def find_token(key: str) -> ApiToken | None:
    return _live(key).first()


async def afind_token(key: str) -> ApiToken | None:
    return await _live(key).afirst()


def user_for_token(key: str) -> User | None:
    """The active user holding this unexpired token, or None."""
    token = find_token(key)
    return token.user if token else None


def revoke_user_tokens(user_id: int) -> int:
    """Delete every token of the user (password change, deactivation)."""
    deleted, _ = ApiToken.objects.filter(user_id=user_id).delete()
    return deleted
