"""POST /api/diffs/{id}/test: the seeded tests run on a diff's patched file in the sandbox."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.tokens import create_token
from agents_app.patching.render import unified_diff
from projects.models import Project, TestCase
from projects.sample_workflow import SAMPLE_CODE, SAMPLE_TESTS
from projects.services import create_project
from reviews.models import Diff
from sessions_app.services import get_or_create_session
from testruns import diff_tests
from testruns.tests.test_sandbox import alive_sandboxes
from tests.support.fixtures import TokenClient, open_project_socket
from vibegrapher.server import shutdown

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("bubblewrap")]

KEEPS_WORKFLOW = SAMPLE_CODE.replace(
    "You solve technical problems step by step.", "You solve technical problems patiently."
)
# The most natural first request on the demo: "add a shipping agent".
SHIPPING_AGENT = """
@function_tool
def track_parcel(tracking_number: str) -> str:
    \"\"\"Say where a parcel is.\"\"\"
    return f"Parcel {tracking_number}: out for delivery"


shipping_agent = Agent(
    name="Shipping Agent",
    instructions="You answer questions about deliveries. Use track_parcel.",
    tools=[track_parcel],
)

triage_agent = Agent("""
GROWS_WORKFLOW = SAMPLE_CODE.replace("\ntriage_agent = Agent(", SHIPPING_AGENT, 1).replace(
    "handoffs=[billing_agent, technical_agent]",
    "handoffs=[billing_agent, technical_agent, shipping_agent]",
)
BREAKS_WORKFLOW = SAMPLE_CODE.replace(
    "handoffs=[billing_agent, technical_agent]", "handoffs=[technical_agent]"
)


def _seeded_project(user: User) -> Project:
    project = create_project(user, "Agent Triage System", SAMPLE_CODE)
    for name, code, quick in SAMPLE_TESTS:
        TestCase.objects.create(project=project, name=name, test_code=code, quick_test=quick)
    return project


def _diff(project: Project, new_code: str) -> Diff:
    session, _ = get_or_create_session(project, "global")
    return Diff.objects.create(
        session=session,
        project=project,
        base_commit=project.current_commit,
        diff_content=unified_diff(SAMPLE_CODE, new_code, "workflow.py"),
        patched_code=new_code,
        commit_message="fix: something",
    )


@pytest.fixture
async def project(user: User) -> Project:
    return await sync_to_async(_seeded_project)(user)


@pytest.fixture
async def socket(project: Project, async_api: TokenClient) -> AsyncIterator[WebsocketCommunicator]:
    token = async_api.auth["Authorization"].removeprefix("Token ")
    communicator = await open_project_socket(project.id, token)
    yield communicator
    await communicator.disconnect()


async def run_tests(
    client: TokenClient, socket: WebsocketCommunicator, diff: Diff, **body: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start the diff's tests; return the 202 body and the `test_completed` events."""
    response = await client.post(
        f"/api/diffs/{diff.id}/test", body, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    started = response.json()
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(60):
        while len(events) < len(started["tests"]):
            event = await socket.receive_json_from(timeout=60)
            if event["type"] == "test_completed":
                events.append(event)
    task = diff_tests.running_task(diff.id)
    if task is not None:
        await task
    return started, events


async def test_a_diff_that_keeps_the_workflow_passes(async_api, socket, project) -> None:
    diff = await sync_to_async(_diff)(project, KEEPS_WORKFLOW)

    started, events = await run_tests(async_api, socket, diff)

    names = [name for name, _, _ in SAMPLE_TESTS]
    assert [t["name"] for t in started["tests"]] == names
    assert [(e["test_name"], e["status"]) for e in events] == [(n, "passed") for n in names]
    assert all(e["diff_id"] == str(diff.id) and e["duration"] > 0 for e in events)
    assert "ok: triage handed off to Billing Agent" in events[1]["output"]
    # The results stay on the diff: a reload shows them.
    stored = (await async_api.get(f"/api/diffs/{diff.id}")).json()
    assert [(r["name"], r["status"]) for r in stored["test_results"]] == [
        (n, "passed") for n in names
    ]
    assert stored["test_results"][0]["isolation"] == "bubblewrap"
    assert stored["test_results"][0]["duration"] > 0
    assert stored["tests_run_at"] is not None and stored["tests_running"] is False


async def test_a_diff_that_breaks_the_workflow_fails(async_api, socket, project) -> None:
    diff = await sync_to_async(_diff)(project, BREAKS_WORKFLOW)

    _, events = await run_tests(async_api, socket, diff)

    assert [e["status"] for e in events] == ["failed", "failed"]
    assert (
        "AssertionError: triage no longer hands off to ['Billing Agent']; "
        "handoffs: ['Technical Support Agent']"
    ) in events[0]["output"]
    assert "transfer_to_billing_agent" in events[1]["output"]


async def test_the_seeded_tests_let_the_workflow_grow(async_api, socket, project) -> None:
    """Adding a specialist (a shipping agent) is not a regression of the seeded tests."""
    assert GROWS_WORKFLOW.count("shipping_agent") == 2 and "track_parcel" in GROWS_WORKFLOW
    diff = await sync_to_async(_diff)(project, GROWS_WORKFLOW)

    _, events = await run_tests(async_api, socket, diff)

    assert [(e["test_name"], e["status"]) for e in events] == [
        (name, "passed") for name, _, _ in SAMPLE_TESTS
    ], [e["output"] for e in events]
    # Not a regression, so no quick test refuses the patch (the base side may have hit
    # its 5 s limit on a loaded machine: then the outcome reads "fixed").
    assert all(e["outcome"] != "regressed" for e in events), events
    assert "'Shipping Agent'" in events[0]["output"]


async def test_quick_only_runs_the_quick_tests(async_api, socket, project) -> None:
    diff = await sync_to_async(_diff)(project, KEEPS_WORKFLOW)

    started, events = await run_tests(async_api, socket, diff, quick_only=True)

    assert [t["name"] for t in started["tests"]] == ["Workflow structure"]
    assert [e["test_name"] for e in events] == ["Workflow structure"]
    stored = await Diff.objects.aget(id=diff.id)
    assert [r["name"] for r in stored.test_results or []] == ["Workflow structure"]


async def test_one_test_run_per_diff_at_a_time(async_api, socket, project) -> None:
    diff = await sync_to_async(_diff)(project, KEEPS_WORKFLOW)
    url = f"/api/diffs/{diff.id}/test"

    first = await async_api.post(url, {}, content_type="application/json")
    second = await async_api.post(url, {}, content_type="application/json")
    running = (await async_api.get(f"/api/diffs/{diff.id}")).json()["tests_running"]
    task = diff_tests.running_task(diff.id)
    assert task is not None
    await task
    third = await async_api.post(url, {}, content_type="application/json")
    await diff_tests.running_task(diff.id)  # type: ignore[misc]

    assert (first.status_code, second.status_code, third.status_code) == (202, 409, 202)
    assert second.json()["detail"] == (
        "The tests of this diff are already running; wait for their results."
    )
    assert running is True


async def test_bad_requests(async_api, socket, project, other_user, settings) -> None:
    diff = await sync_to_async(_diff)(project, KEEPS_WORKFLOW)
    url = f"/api/diffs/{diff.id}/test"

    bad_flag = await async_api.post(url, {"quick_only": "maybe"}, content_type="application/json")
    unknown = await async_api.post(
        "/api/diffs/00000000-0000-0000-0000-000000000000/test", {}, content_type="application/json"
    )
    other_token = await sync_to_async(create_token)(other_user)
    not_theirs = await TokenClient(other_token).post(url, {}, content_type="application/json")
    await TestCase.objects.filter(project=project, quick_test=True).adelete()
    no_quick = await async_api.post(url, {"quick_only": True}, content_type="application/json")
    settings.TEST_SANDBOX = "chroot"
    no_sandbox = await async_api.post(url, {}, content_type="application/json")

    assert bad_flag.status_code == 400 and "quick_only" in bad_flag.json()
    assert unknown.status_code == 404 and not_theirs.status_code == 404
    assert no_quick.status_code == 409
    assert no_quick.json()["detail"].startswith("The project has no quick test cases")
    assert no_sandbox.status_code == 503
    assert "TEST_SANDBOX='chroot' is unknown" in no_sandbox.json()["detail"]
    assert (await Diff.objects.aget(id=diff.id)).tests_started_at is None


async def test_tests_are_queued_then_running_one_sandbox_at_a_time(
    async_api, socket, project, settings
) -> None:
    settings.TEST_SANDBOX_CONCURRENCY = 1
    # A light test: this is about the queue, not the SDK's start-up time.
    await TestCase.objects.filter(project=project).aupdate(
        test_code="import time\ntime.sleep(0.5)\nprint('ok')\n"
    )
    diffs = [await sync_to_async(_diff)(project, KEEPS_WORKFLOW) for _ in range(2)]
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, await asyncio.to_thread(alive_sandboxes))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    for diff in diffs:
        response = await async_api.post(
            f"/api/diffs/{diff.id}/test", {"quick_only": True}, content_type="application/json"
        )
        assert response.status_code == 202, response.content
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(60):
        while sum(e["type"] == "test_completed" for e in events) < 2:
            event = await socket.receive_json_from(timeout=60)
            if event["type"] in ("test_status", "test_completed"):
                events.append(event)
    for diff in diffs:
        if task := diff_tests.running_task(diff.id):
            await task
    watcher.cancel()

    for diff in diffs:
        seen = [e["status"] for e in events if e["diff_id"] == str(diff.id)]
        assert seen == ["queued", "running", "passed"]
        names = {e["test_name"] for e in events if e["diff_id"] == str(diff.id)}
        assert names == {"Workflow structure"}
    assert most == 1  # the second diff's test waited for the first's sandbox
    statuses = [(e["diff_id"], e["status"]) for e in events]
    first, second = (str(diff.id) for diff in diffs)
    # The second was queued while the first ran, and ran after the first had its turn.
    assert statuses.index((second, "queued")) < statuses.index((first, "passed"))
    assert statuses.index((second, "running")) > statuses.index((first, "running"))


async def test_an_old_claim_is_taken_only_from_another_process(async_api, socket, project) -> None:
    diff = await sync_to_async(_diff)(project, KEEPS_WORKFLOW)
    url = f"/api/diffs/{diff.id}/test"
    long_ago = timezone.now() - timedelta(hours=1)

    # Ours, however long its tests waited for a sandbox, is live.
    first = await async_api.post(url, {"quick_only": True}, content_type="application/json")
    await Diff.objects.filter(id=diff.id).aupdate(tests_started_at=long_ago)
    while_ours = await async_api.post(url, {"quick_only": True}, content_type="application/json")
    if task := diff_tests.running_task(diff.id):
        await task
    # Another host's, as old, is a dead process's.
    await Diff.objects.filter(id=diff.id).aupdate(
        tests_started_at=long_ago, tests_owner="elsewhere:1:dead"
    )
    theirs = await async_api.post(url, {"quick_only": True}, content_type="application/json")
    if task := diff_tests.running_task(diff.id):
        await task

    assert (first.status_code, while_ours.status_code, theirs.status_code) == (202, 409, 202)


async def test_a_run_still_going_at_shutdown_stores_its_unfinished_tests_as_errors(
    async_api, socket, project, settings
) -> None:
    """SIGTERM (vibegrapher/server/shutdown.py): a diff's test run finishes while the
    server drains, or what is left of it is stored, and sent, as errors saying why."""

    def make() -> Diff:
        TestCase.objects.create(
            project=project, name="slow one", test_code="import time\ntime.sleep(60)\n"
        )
        return _diff(project, KEEPS_WORKFLOW)

    diff = await sync_to_async(make)()
    response = await async_api.post(
        f"/api/diffs/{diff.id}/test", {}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    running = {"type": "test_status", "diff_id": str(diff.id), "test_name": "slow one",
               "status": "running"}  # fmt: skip
    async with asyncio.timeout(60):
        while await socket.receive_json_from(timeout=60) != running:
            pass
    # What the shutdown leaves the runs: 1.5 s (1 s of it to store what is left).
    settings.SHUTDOWN_GRACE_SECONDS = shutdown.CLOSING_SECONDS + 1.5

    async with asyncio.timeout(10):
        await diff_tests.end_test_runs()

    assert diff_tests.running_task(diff.id) is None
    stored = (await async_api.get(f"/api/diffs/{diff.id}")).json()
    names = [name for name, _, _ in SAMPLE_TESTS]
    assert [(r["name"], r["status"]) for r in stored["test_results"]] == [
        *((name, "passed") for name in names),
        ("slow one", "error"),
    ]
    assert stored["test_results"][-1]["output"] == diff_tests.RESTARTED_OUTPUT
    assert stored["tests_running"] is False
    event: dict[str, Any] = {}
    async with asyncio.timeout(10):
        while event.get("type") != "test_completed":
            event = await socket.receive_json_from(timeout=10)
    assert (event["test_name"], event["status"]) == ("slow one", "error")
    assert event["output"] == diff_tests.RESTARTED_OUTPUT
    assert alive_sandboxes() == 0
