"""What an open WebSocket was authenticated with, and whether that still holds.

A socket is opened with an API token (`?token=`) or the browser's session cookie. Each
socket remembers its `SocketCredential`; `ended()` tells, for many of them in a few
batched queries, which would no longer authenticate an HTTP request and why. It reads
the rows themselves, so it sees every way a credential ends: a revoked or expired
token, a logout or a deleted or expired session, a password change, a user
deactivated or deleted, whether through `save()`, `QuerySet.update()`, the admin or
raw SQL, in any process.

The common ends are also announced at once through the channel layer (a group per
user, token and session: `close_*_sockets`), so a socket on any server process
closes without waiting for the next check.
"""

import asyncio
import hashlib
import logging
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone

from accounts.models import ApiToken

logger = logging.getLogger(__name__)

# The channel-layer message type that closes a socket (`ProjectConsumer.credentials_revoked`).
REVOKED_MESSAGE_TYPE = "credentials.revoked"

# Why a socket was closed: the WebSocket close frame's reason (docs/api.md).
TOKEN_REVOKED = "token revoked"
TOKEN_EXPIRED = "token expired"
SESSION_ENDED = "session ended"
SESSION_EXPIRED = "session expired"
PASSWORD_CHANGED = "password changed"
USER_INACTIVE = "user deactivated or deleted"

# Keys per `IN (…)`: under every database's limit of query parameters.
BATCH = 500


@dataclass(frozen=True)
class SocketCredential:
    """What one socket was opened with: a token (its row id) or a session (its key and
    the user's password hash when it connected: a new one ends the session)."""

    user_id: int
    token_id: int | None = None
    session_key: str | None = None
    password: str | None = None

    def group(self) -> str:
        """The channel-layer group that closes every socket opened with this credential."""
        if self.token_id is not None:
            return token_group(self.token_id)
        assert self.session_key is not None
        return session_group(self.session_key)


def token_credential(user: User, token: ApiToken) -> SocketCredential:
    return SocketCredential(user_id=user.pk, token_id=token.pk)


def session_credential(user: User, session_key: str) -> SocketCredential:
    return SocketCredential(user_id=user.pk, session_key=session_key, password=user.password)


def user_group(user_id: int) -> str:
    """The channel-layer group every WebSocket of this user joins."""
    return f"user-{user_id}"


def token_group(token_id: int) -> str:
    return f"ws-token-{token_id}"


def session_group(session_key: str) -> str:
    # Hashed: the key is a credential, and group names are visible in Redis.
    return f"ws-session-{hashlib.sha256(session_key.encode()).hexdigest()[:40]}"


async def _send(group: str, reason: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async with asyncio.timeout(settings.EVENT_EMIT_TIMEOUT_SECONDS):
            await layer.group_send(group, {"type": REVOKED_MESSAGE_TYPE, "reason": reason})
    except Exception as exc:
        # The periodic check (sessions_app/credential_watch.py) still closes the
        # sockets, a second later; the request that ended the credential goes on.
        logger.warning(
            "could not announce %r to %s: channel layer failed: %s",
            reason,
            group,
            f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
        )


def close_user_sockets(user_id: int, reason: str) -> None:
    """Ask every server process to close this user's WebSockets (never raises)."""
    async_to_sync(_send)(user_group(user_id), reason)


def close_token_sockets(token_id: int, reason: str = TOKEN_REVOKED) -> None:
    """Ask every server process to close the WebSockets opened with this token."""
    async_to_sync(_send)(token_group(token_id), reason)


def close_session_sockets(session_key: str, reason: str = SESSION_ENDED) -> None:
    """Ask every server process to close the WebSockets opened with this session."""
    async_to_sync(_send)(session_group(session_key), reason)


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _rows(
    model: type[models.Model], key: str, values: Collection[Any], *fields: str
) -> dict[Any, tuple[Any, ...]]:
    """`{key: (fields…)}` of the rows whose `key` is one of `values`."""
    found: dict[Any, tuple[Any, ...]] = {}
    for batch in _chunks(values):
        for row in model._default_manager.filter(**{f"{key}__in": batch}).values_list(key, *fields):
            found[row[0]] = tuple(row[1:])
    return found


def _session_model() -> type[models.Model] | None:
    """The model the session engine keeps sessions in, or None (cache, files, cookies)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    get_model_class = getattr(store, "get_model_class", None)
    return get_model_class() if get_model_class is not None else None


def _live_sessions(keys: Collection[str], now: datetime) -> dict[str, str | None]:
    """Each key's state: None while the session lasts, else why it ended."""
    model = _session_model()
    if model is not None:
        rows = _rows(model, "session_key", keys, "expire_date")
        return {
            key: (
                SESSION_ENDED
                if key not in rows
                else SESSION_EXPIRED
                if rows[key][0] <= now
                else None
            )
            for key in keys
        }
    # Another engine has no table to ask at once: load each session (the cache or
    # file read an HTTP request would do).
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return {
        key: None if store(session_key=key).load().get(SESSION_KEY) else SESSION_ENDED
        for key in keys
    }


def ended(credentials: Collection[SocketCredential]) -> dict[SocketCredential, str]:
    """The credentials among these that no longer authenticate, each with the reason.

    One query for the users, one for the tokens, one for the sessions (per BATCH
    keys), whatever the number of sockets. Raises on a database error: the caller
    decides (sessions_app/credential_watch.py keeps the sockets open and retries).
    """
    if not credentials:
        return {}
    now = timezone.now()
    users = _rows(User, "id", {c.user_id for c in credentials}, "is_active", "password")
    token_ids = {c.token_id for c in credentials if c.token_id is not None}
    tokens = _rows(ApiToken, "id", token_ids, "expires_at") if token_ids else {}
    session_keys = {c.session_key for c in credentials if c.session_key is not None}
    sessions = _live_sessions(session_keys, now) if session_keys else {}
    result: dict[SocketCredential, str] = {}
    for credential in credentials:
        user = users.get(credential.user_id)
        if user is None or not user[0]:
            result[credential] = USER_INACTIVE
        elif credential.token_id is not None:
            token = tokens.get(credential.token_id)
            if token is None:
                result[credential] = TOKEN_REVOKED
            elif token[0] <= now:
                result[credential] = TOKEN_EXPIRED
        elif credential.session_key is not None:
            reason = sessions.get(credential.session_key)
            if reason is not None:
                result[credential] = reason
            elif user[1] != credential.password:
                # The session's auth hash was made from the old password: Django's
                # `get_user` refuses it now (sessions are not re-hashed behind a socket).
                result[credential] = PASSWORD_CHANGED
    return result
