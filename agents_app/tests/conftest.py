"""Fixtures for driving vibecode runs through the HTTP API and the project WebSocket."""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from accounts.tokens import create_token
from agents_app.patching import unified_diff
from projects.models import Project
from projects.services import create_project
from tests.support.fixtures import TokenClient, open_project_socket

WORKFLOW = '''\
from agents import Agent, Runner, function_tool


@function_tool
def lookup_order(order_id: str) -> str:
    """Find an order."""
    return f"Order {order_id}: shipped"


support = Agent(name="Support", instructions="Help with orders.", tools=[lookup_order])
billing = Agent(name="Billing", instructions="Help with invoices.")
triage = Agent(
    name="Triage",
    instructions="Send the customer to the right agent.",
    handoffs=[support, billing],
)


if __name__ == "__main__":
    print(Runner.run_sync(triage, "Where is my order 42?").final_output)
'''

RUN_TIMEOUT = 20.0


def change(old: str, new: str) -> str:
    """A diff as a model would write it for replacing `old` by `new` in WORKFLOW."""
    assert old in WORKFLOW
    return unified_diff(WORKFLOW, WORKFLOW.replace(old, new), "workflow.py")


def patch_input(description: str, diff: str) -> str:
    """The freeform `submit_patch` input: description line, then the diff."""
    return f"{description}\n{diff}"


def verdict(approved: bool, reasoning: str = "Looks right.", message: str = "feat: change") -> str:
    return json.dumps({"approved": approved, "reasoning": reasoning, "commit_message": message})


@dataclass
class Vibe:
    """An authenticated API client, a project, its global session and a WebSocket."""

    client: TokenClient
    project: Project
    session_id: str
    socket: WebsocketCommunicator
    # Events other than `message_delta` (live text, kept apart in `live`), in order.
    events: list[dict[str, Any]] = field(default_factory=list)
    # Every event, `message_delta` included, in order.
    stream: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, prompt: str, session_id: str | None = None) -> Any:
        return await self.client.post(
            f"/api/sessions/{session_id or self.session_id}/messages",
            {"prompt": prompt},
            content_type="application/json",
        )

    async def until(self, event_type: str, wait: float = RUN_TIMEOUT) -> dict[str, Any]:
        """Collect events until one of `event_type` arrives; return it."""
        async with asyncio.timeout(wait):
            while True:
                event = await self.socket.receive_json_from(timeout=wait)
                if event["type"] == "heartbeat":
                    continue
                self.stream.append(event)
                if event["type"] != "message_delta":
                    self.events.append(event)
                if event["type"] == event_type:
                    return event

    async def run(self, prompt: str, session_id: str | None = None) -> dict[str, Any]:
        """Send a prompt and wait for the run's `run_finished` event."""
        response = await self.send(prompt, session_id)
        assert response.status_code == 202, response.content
        return await self.until("run_finished")

    async def messages(self, session_id: str | None = None) -> list[dict[str, Any]]:
        response = await self.client.get(f"/api/sessions/{session_id or self.session_id}/messages")
        assert response.status_code == 200
        return list(response.json()["results"])

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


@pytest.fixture
async def vibe(transactional_db, user: User, model_server) -> AsyncIterator[Vibe]:
    token = await sync_to_async(create_token)(user)
    project = await sync_to_async(create_project)(user, "Shop", WORKFLOW)
    client = TokenClient(token)
    response = await client.post(
        f"/api/projects/{project.id}/sessions", {}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    socket = await open_project_socket(project.id, token)
    yield Vibe(client=client, project=project, session_id=response.json()["id"], socket=socket)
    await socket.disconnect()
