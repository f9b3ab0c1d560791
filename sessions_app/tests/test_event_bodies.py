"""Events over WS_EVENT_INLINE_MAX_BYTES, through the ASGI stack: every event type that
can carry long content comes as a `large_event` whose body is the very event; short ones
come whole; a body too long to keep, an expired one and a failing cache each say so."""

import asyncio
import json
import logging

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from accounts.tokens import create_token
from projects.models import Project
from sessions_app import event_bodies
from sessions_app.events import (
    REFERENCE_ID_FIELDS,
    EmitFailures,
    Event,
    TokenUsage,
    emit,
    emit_sync,
)
from tests.support.fixtures import open_project_socket

pytestmark = pytest.mark.django_db(transaction=True)

# Quotes, newlines and non-ASCII: its JSON is several times its length.
LONG = 'Line "é" ✓\n' * 8_000
SESSION = "8a3c1d4e-0000-4000-8000-000000000001"
MESSAGE = "8a3c1d4e-0000-4000-8000-000000000002"
DIFF = "8a3c1d4e-0000-4000-8000-000000000003"


def long_events(project_id: str) -> list[Event]:
    """One of each event type whose fields can be long, each over 64 KB."""
    usage: TokenUsage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                         "model": "m", "agent": "vibecoder", "iteration": 1}  # fmt: skip
    return [
        {"type": "conversation_message", "message_id": MESSAGE, "session_id": SESSION,
         "role": "assistant", "agent": "vibecoder", "content": LONG, "patch_preview": LONG,
         "iteration": 1, "token_usage": usage, "created_at": "2026-12-07T14:00:00+00:00",
         "reasoning_summary": LONG, "diff_id": DIFF},
        {"type": "message_delta", "message_id": MESSAGE, "session_id": SESSION,
         "agent": "vibecoder", "iteration": 1, "kind": "text", "delta": LONG},
        {"type": "code_changed", "project_id": project_id, "new_code": LONG,
         "commit_sha": "a" * 40},
        {"type": "test_completed", "diff_id": DIFF, "test_name": "Loud", "status": "failed",
         "output": LONG, "duration": 1.5, "limit": "", "outcome": "regressed",
         "base_status": "passed"},
        {"type": "quick_test", "session_id": SESSION, "iteration": 1, "test_name": "Loud",
         "status": "failed", "done": 1, "total": 1, "outcome": "regressed",
         "base_status": "passed", "output": LONG},
        {"type": "run_finished", "session_id": SESSION, "outcome": "max_iterations",
         "error": "Max iterations reached", "final_feedback": LONG},
        {"type": "diff_created", "diff_id": DIFF, "session_id": SESSION, "status": "pending",
         "commit_message": LONG},
    ]  # fmt: skip


@pytest.fixture
async def mine(transactional_db) -> tuple[Project, str, APIClient]:
    def build() -> tuple[Project, str, APIClient]:
        alice = User.objects.create_user("alice", password="alice-password-123")
        project = Project.objects.create(
            name="Mine", slug="mine", owner=alice, repository_path="mine"
        )
        token = create_token(alice)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return project, token, client

    return await sync_to_async(build)()


async def test_each_long_event_comes_as_a_reference_to_itself(mine) -> None:
    project, token, client = mine
    socket = await open_project_socket(project.id, token)
    for event in long_events(str(project.id)):
        await emit(project.id, event)
        reference = await socket.receive_json_from()

        assert reference["type"] == "large_event"
        assert reference["event_type"] == event["type"]
        fields = dict(event)
        assert reference["ids"] == {k: fields[k] for k in REFERENCE_ID_FIELDS if k in fields}
        assert reference["bytes"] == len(json.dumps(event)) > 64 * 1024
        assert len(json.dumps(reference)) < 1024
        body = await sync_to_async(client.get)(reference["body_url"])
        assert body.status_code == 200
        assert body.content == json.dumps(event).encode()
    await socket.disconnect()


async def test_a_short_event_comes_whole_and_the_threshold_is_a_setting(mine, settings) -> None:
    project, token, _ = mine
    socket = await open_project_socket(project.id, token)
    event: Event = {"type": "diff_status", "diff_id": DIFF, "status": "committed"}
    await emit(project.id, event)
    assert await socket.receive_json_from() == event

    settings.WS_EVENT_INLINE_MAX_BYTES = len(json.dumps(event)) - 1
    await emit(project.id, event)
    assert (await socket.receive_json_from())["type"] == "large_event"
    await socket.disconnect()


async def test_a_body_over_the_keeping_limit_is_a_reference_to_nothing(
    mine, settings, caplog
) -> None:
    project, token, _ = mine
    settings.EVENT_BODY_MAX_BYTES = 100_000
    socket = await open_project_socket(project.id, token)
    event = long_events(str(project.id))[2]  # code_changed, over 100 KB as JSON
    with caplog.at_level(logging.WARNING, logger="sessions_app.events"):
        await emit(project.id, event)
        reference = await socket.receive_json_from()

    assert reference["event_type"] == "code_changed" and reference["body_url"] is None
    assert "over EVENT_BODY_MAX_BYTES" in caplog.text
    await socket.disconnect()


async def test_an_expired_body_answers_404_saying_what_to_do(mine, settings) -> None:
    project, token, client = mine
    settings.EVENT_BODY_TTL_SECONDS = 1
    socket = await open_project_socket(project.id, token)
    await sync_to_async(emit_sync)(project.id, long_events(str(project.id))[0])
    reference = await socket.receive_json_from()
    assert (await sync_to_async(client.get)(reference["body_url"])).status_code == 200

    await asyncio.sleep(1.5)
    gone = await sync_to_async(client.get)(reference["body_url"])

    assert gone.status_code == 404
    assert "Re-read" in gone.json()["detail"] and "1 s" in gone.json()["detail"]
    await socket.disconnect()


class BrokenCache:
    def set(self, *args: object, **kwargs: object) -> None:
        raise ConnectionError("Redis is down")


async def test_a_failing_cache_drops_the_event_like_a_failing_channel_layer(
    mine, monkeypatch
) -> None:
    project, token, _ = mine
    socket = await open_project_socket(project.id, token)
    monkeypatch.setattr(event_bodies, "cache", BrokenCache())
    failures = EmitFailures.count

    await emit(project.id, long_events(str(project.id))[0])  # does not raise

    assert EmitFailures.count == failures + 1
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()
