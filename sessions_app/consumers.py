"""The project WebSocket: `/ws/projects/<id>/`, one group per project."""

import asyncio
import collections
import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.authtoken.models import Token

from projects.models import Project
from sessions_app import presence
from sessions_app.events import HeartbeatEvent, project_group

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY_FRAMES = 4429


@database_sync_to_async
def _token_user(key: str) -> User | None:
    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token and token.user.is_active else None


@database_sync_to_async
def _project_owner_id(project_id: uuid.UUID) -> int | None:
    return Project.objects.filter(id=project_id).values_list("owner_id", flat=True).first()


class ProjectConsumer(AsyncWebsocketConsumer):
    """Joins the project's group when the user owns the project; forwards its events."""

    project_id: str
    group: str | None = None
    heartbeat: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        project_id: uuid.UUID = self.scope["url_route"]["kwargs"]["project_id"]
        self.project_id = str(project_id)
        self.connection_id = uuid.uuid4().hex
        self.frames: collections.deque[float] = collections.deque()
        refusal = await self._refusal()
        if refusal is None:
            # Join before accepting: once the client sees the socket open, it gets events.
            self.group = project_group(self.project_id)
            await self.channel_layer.group_add(self.group, self.channel_name)
            await presence.join(self.project_id, self.connection_id)
        # Accept even a refused socket, so that the browser can read the close code.
        await self.accept()
        if refusal is not None:
            await self.close(code=refusal)
            return
        self.heartbeat = asyncio.create_task(self._beat())

    async def _refusal(self) -> int | None:
        """The close code that refuses this connection, or None to let it in."""
        user = await self._user()
        if user is None:
            return CLOSE_UNAUTHENTICATED
        owner_id = await _project_owner_id(uuid.UUID(self.project_id))
        if owner_id is None:
            return CLOSE_NOT_FOUND
        if owner_id != user.pk:
            return CLOSE_FORBIDDEN
        return None

    async def _user(self) -> User | None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        if query.get("token"):
            return await _token_user(query["token"][0])
        user = self.scope.get("user")
        return user if isinstance(user, User) and user.is_active else None

    async def disconnect(self, code: int) -> None:
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await presence.leave(self.project_id, self.connection_id)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.group is None:
            return
        if self._too_many_frames():
            logger.warning("ws %s: more than %s frames/s, closing", self.project_id, self._limit())
            await self.close(code=CLOSE_TOO_MANY_FRAMES)
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

    async def project_event(self, message: dict[str, Any]) -> None:
        """A channel-layer message from `sessions_app.events.emit`."""
        await self.send(text_data=message["text"])

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(settings.WS_HEARTBEAT_SECONDS)
            await presence.touch(self.project_id, self.connection_id)
            event: HeartbeatEvent = {
                "type": "heartbeat",
                "server_time": timezone.now().isoformat(),
                "project_id": self.project_id,
                "status": "alive",
                "connections": await presence.count(self.project_id),
            }
            await self.send(text_data=json.dumps(event))
