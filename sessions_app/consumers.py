"""The project WebSocket: `/ws/projects/<id>/`, one group per project."""

import asyncio
import collections
import json
import logging
import time
import uuid
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.credentials import (
    SocketCredential,
    session_credential,
    token_credential,
    user_group,
)
from accounts.tokens import afind_token
from projects.models import Project
from sessions_app import presence
from sessions_app.credential_watch import watch
from sessions_app.events import LAYER_MESSAGE_TYPE, heartbeat_event, project_group
from sessions_app.origin import query_token
from vibegrapher.server import shutdown

logger = logging.getLogger(__name__)

CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# Too many frames a second, or too many sockets for one user.
CLOSE_TOO_MANY = 4429
# The server is restarting (a deploy): reconnect, to whichever server answers.
CLOSE_SERVICE_RESTART = 1012
RESTART_REASON = "server restarting: reconnect"

# This process's open sockets, closed with 1012 when it stops (`close_for_restart`).
_open: "weakref.WeakSet[ProjectConsumer]" = weakref.WeakSet()


@database_sync_to_async
def _project_owner_id(project_id: uuid.UUID) -> int | None:
    return Project.objects.filter(id=project_id).values_list("owner_id", flat=True).first()


class ProjectConsumer(AsyncWebsocketConsumer):
    """Joins the project's group when the user owns the project; forwards its events."""

    project_id: str
    group: str | None = None
    user_id: int | None = None
    # What the socket was opened with; it is closed (4401) once that ends.
    credential: SocketCredential | None = None
    heartbeat: asyncio.Task[None] | None = None
    # Set once we sent a close: the client's frames still in flight and later events
    # get no answer (no pong, no second close) while the close handshake finishes.
    closing = False

    async def connect(self) -> None:
        project_id: uuid.UUID = self.scope["url_route"]["kwargs"]["project_id"]
        self.project_id = str(project_id)
        self.connection_id = uuid.uuid4().hex
        self.frames: collections.deque[float] = collections.deque()
        refusal = await self._refusal()
        if refusal is None:
            assert self.user_id is not None
            assert self.credential is not None
            # Join before accepting: once the client sees the socket open, it gets events.
            # The user's and the credential's groups close it at once when they end
            # (accounts/credentials.py); the watch catches every other way.
            await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
            await self.channel_layer.group_add(self.credential.group(), self.channel_name)
            watch().add(self, self.credential)
            self.group = project_group(self.project_id)
            await self.channel_layer.group_add(self.group, self.channel_name)
            await presence.join(self.project_id, self.connection_id)
        # Accept even a refused socket, so that the browser can read the close code.
        await self.accept()
        if refusal is not None:
            await self._close(refusal)
            return
        if shutdown.stopping():  # came on a connection open before the signal
            await self._close(CLOSE_SERVICE_RESTART, RESTART_REASON)
            return
        self.gone = asyncio.Event()
        _open.add(self)
        self.heartbeat = asyncio.create_task(self._beat())

    async def _refusal(self) -> int | None:
        """The close code that refuses this connection, or None to let it in."""
        found = await self._credential()
        if found is None:
            return CLOSE_UNAUTHENTICATED
        user, credential = found
        owner_id = await _project_owner_id(uuid.UUID(self.project_id))
        if owner_id is None:
            return CLOSE_NOT_FOUND
        if owner_id != user.pk:
            return CLOSE_FORBIDDEN
        # Count this socket first, then compare: two sockets racing for the last place
        # cannot both get in (at worst both are refused).
        await presence.touch_user(user.pk, self.connection_id)
        if await presence.count_user(user.pk) > settings.WS_MAX_SOCKETS_PER_USER:
            await presence.leave_user(user.pk, self.connection_id)
            logger.warning(
                "ws %s: user %s has %s sockets open, refused",
                self.project_id,
                user.pk,
                settings.WS_MAX_SOCKETS_PER_USER,
            )
            return CLOSE_TOO_MANY
        self.user_id = user.pk
        self.credential = credential
        return None

    async def _credential(self) -> tuple[User, SocketCredential] | None:
        """The user and what authenticated them, or None."""
        # The same test as the Origin check's (sessions_app/origin.py): a token
        # connection is never authenticated by the cookie.
        key = query_token(self.scope)
        if key is not None:
            token = await afind_token(key)
            return (token.user, token_credential(token.user, token)) if token else None
        user = self.scope.get("user")
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if not isinstance(user, User) or not user.is_active or not session_key:
            return None
        return user, session_credential(user, session_key)

    async def disconnect(self, code: int) -> None:
        if self in _open:
            _open.discard(self)
            self.gone.set()
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await presence.leave(self.project_id, self.connection_id)
        if self.user_id is not None:
            await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)
            await presence.leave_user(self.user_id, self.connection_id)
        if self.credential is not None:
            watch().discard(self)
            await self.channel_layer.group_discard(self.credential.group(), self.channel_name)

    async def _close(self, code: int, reason: str | None = None) -> None:
        self.closing = True
        await self.close(code=code, reason=reason)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # A client over the rate gets 4429 as long as it reads what we send. One that
        # sends pings without reading the pongs stalls its own reading (the websockets
        # library stops at 16 unread messages), never reads the close frame, and daphne
        # drops the connection after its close-handshake timeout: that client sees 1006.
        if self.group is None or self.closing:
            return
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.WS_MAX_FRAME_BYTES:
            # daphne refuses such frames itself (sessions_app/daphne_limits.py); this
            # covers any other ASGI server.
            logger.warning("ws %s: a %s-byte frame, closing", self.project_id, size)
            await self._close(CLOSE_MESSAGE_TOO_BIG)
            return
        if self._too_many_frames():
            logger.warning("ws %s: more than %s frames/s, closing", self.project_id, self._limit())
            await self._close(CLOSE_TOO_MANY)
            return
        try:
            message = json.loads(text_data if text_data is not None else bytes_data or b"")
        except (ValueError, UnicodeDecodeError):
            logger.warning("ws %s: ignored a frame that is not JSON", self.project_id)
            return
        if not isinstance(message, dict) or message.get("type") != "ping":
            logger.warning("ws %s: ignored an unknown frame: %.200r", self.project_id, message)
            return
        await self.send(text_data=json.dumps({"type": "pong"}))

    def _limit(self) -> int:
        return int(settings.WS_MAX_FRAMES_PER_SECOND)

    def _too_many_frames(self) -> bool:
        now = time.monotonic()
        self.frames.append(now)
        while self.frames and self.frames[0] < now - 1.0:
            self.frames.popleft()
        return len(self.frames) > self._limit()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels hands every message to a worker thread first, to close stale
        # database connections. A project event is only forwarded, never touches the
        # database, and comes to every socket of the project: that hop was a quarter
        # of a server's time fanning events out to 200 sockets (bench/ws_fanout.py).
        if message["type"] == LAYER_MESSAGE_TYPE:
            await self.project_event(message)
            return
        await super().dispatch(message)

    async def project_event(self, message: dict[str, Any]) -> None:
        """A channel-layer message from `sessions_app.events.emit`."""
        if not self.closing:
            await self.send(text_data=message["text"])

    async def credentials_revoked(self, message: dict[str, Any]) -> None:
        """The socket's token, session or user ended (accounts/credentials.py)."""
        await self.credentials_ended(str(message.get("reason") or "credentials revoked"))

    async def credentials_ended(self, reason: str) -> None:
        """Close with 4401 and the reason (from the channel layer or the watch)."""
        if not self.closing:
            logger.info("ws %s: %s, closing", self.project_id, reason)
            watch().discard(self)
            await self._close(CLOSE_UNAUTHENTICATED, reason)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(settings.WS_HEARTBEAT_SECONDS)
            await presence.touch(self.project_id, self.connection_id)
            if self.user_id is not None:
                await presence.touch_user(self.user_id, self.connection_id)
            event = heartbeat_event(
                timezone.now(), self.project_id, await presence.count(self.project_id)
            )
            await self.send(text_data=json.dumps(event))


async def close_for_restart() -> None:
    """At shutdown, once every request is answered: close every socket of this process
    with 1012 and wait (briefly: the shutdown bounds it) for the close handshakes."""
    sockets = [socket for socket in list(_open) if not socket.closing]
    for socket in sockets:
        await socket._close(CLOSE_SERVICE_RESTART, RESTART_REASON)
    await asyncio.gather(*(socket.gone.wait() for socket in sockets))
