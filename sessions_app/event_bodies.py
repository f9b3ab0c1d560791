"""Events too long for one WebSocket message, kept a while for the client to fetch.

An event whose JSON is over `WS_EVENT_INLINE_MAX_BYTES` goes out as a small
`large_event` reference; its JSON is kept here, exactly as it would have been sent, and
`GET /api/projects/{project_id}/events/{event_id}` returns it to the project's owner.
A copy, not a link to the stored rows: several such events are stored nowhere else
(live text, quick-test output, a run's final feedback), a model's answer is sent before
its row is written, and the client must apply the very event it missed.

Bodies live in Django's cache (Redis with `REDIS_URL`, so any server process answers;
process memory otherwise, where there is one process). Each expires after
`EVENT_BODY_TTL_SECONDS`; one over `EVENT_BODY_MAX_BYTES` is not kept at all.
"""

import asyncio
import uuid
from typing import TypedDict

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse


class StoredBody(TypedDict):
    project_id: str
    text: str


def _key(event_id: str) -> str:
    return f"vibegrapher:event-body:{event_id}"


def body_url(project_id: str, event_id: str) -> str:
    return reverse("project-event-body", kwargs={"project_id": project_id, "event_id": event_id})


async def keep(project_id: str, text: str) -> str | None:
    """Keep an event's JSON; its id, or None when it is over `EVENT_BODY_MAX_BYTES`.

    The cache call runs in a worker thread: a Redis round trip must not hold the loop.
    """
    if len(text) > settings.EVENT_BODY_MAX_BYTES:
        return None
    event_id = str(uuid.uuid4())
    stored: StoredBody = {"project_id": project_id, "text": text}
    await asyncio.to_thread(cache.set, _key(event_id), stored, settings.EVENT_BODY_TTL_SECONDS)
    return event_id


def find(project_id: uuid.UUID, event_id: uuid.UUID) -> str | None:
    """The JSON of the project's event, or None (expired, never kept, another project's)."""
    stored: StoredBody | None = cache.get(_key(str(event_id)))
    if stored is None or stored["project_id"] != str(project_id):
        return None
    return stored["text"]
