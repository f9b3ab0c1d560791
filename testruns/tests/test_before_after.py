"""Before/after: each test runs on the diff's base and its patched file; the base side
once per (commit, test code); each result says what the change did to the test."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from agents_app.patching import unified_diff
from projects.models import Project, TestCase
from projects.services import commit_project_code, create_project
from reviews.checks import checks_summary, lead_with_regressions
from reviews.models import Diff
from sessions_app.services import get_or_create_session
from testruns import diff_tests
from testruns.before_after import classify
from testruns.models import BaseTestResult
from tests.support.fixtures import TokenClient, open_project_socket

CODE = 'from agents import Agent\n\nLIMIT = 10\nbot = Agent(name="Bot", instructions="Help.")\n'
# Lowers the limit (breaks "Limit is ten") and adds a greeting (fixes "Greets").
PATCHED = CODE.replace("LIMIT = 10", "LIMIT = 5\nGREETING = 'hello'")

# Plain Python, no SDK start-up: these are about outcomes, not the SDK.
TESTS = [
    ("Limit is ten", "import workflow\nassert workflow.LIMIT == 10, workflow.LIMIT\n"),
    ("Greets", "import workflow\nassert hasattr(workflow, 'GREETING'), 'no greeting'\n"),
    ("Has a bot", "assert 'bot = Agent(' in open('workflow.py').read()\n"),
    ("Wants a farewell", "import workflow\nassert hasattr(workflow, 'FAREWELL'), 'no farewell'\n"),
]
# A fresh random line per run: equal outputs are one run read back, not two runs.
RANDOM_LINE = "import os\nprint('run', os.urandom(8).hex())\n"


@pytest.mark.parametrize(
    ("base", "patched", "outcome"),
    [
        ("passed", "passed", "unchanged-pass"),
        ("failed", "failed", "unchanged-fail"),
        ("failed", "passed", "fixed"),
        ("passed", "failed", "regressed"),
        ("passed", "timeout", "regressed"),
        ("passed", "error", "regressed"),
        ("error", "passed", "fixed"),
        ("failed", "error", "error"),
        ("timeout", "failed", "error"),
    ],
)
def test_classification(base: Any, patched: Any, outcome: str) -> None:
    assert classify(base, patched) == outcome


def test_a_side_that_could_not_run_is_an_error() -> None:
    assert classify("passed", "failed", both_ran=False) == "error"


def test_checks_lead_with_regressions() -> None:
    results = [
        {"name": "a", "status": "passed", "outcome": "unchanged-pass"},
        {"name": "b", "status": "failed", "outcome": "unchanged-fail"},
        {"name": "c", "status": "passed", "outcome": "fixed"},
        {"name": "d", "status": "failed", "outcome": "regressed"},
    ]
    names = ["a", "b", "c", "d"]
    assert checks_summary(names, results) == "4 tests: 1 regressed, 1 fixed, 1 passed, 1 failed"
    assert [r["name"] for r in lead_with_regressions(results)] == ["d", "a", "b", "c"]
    # Results stored before outcomes existed count by their status, as before.
    assert checks_summary(["a"], [{"name": "a", "status": "passed"}]) == "1 test: 1 passed"


def _project(user: User, tests: list[tuple[str, str]] = TESTS) -> Project:
    project = create_project(user, "Limits", CODE)
    for name, code in tests:
        TestCase.objects.create(project=project, name=name, test_code=code)
    return project


def _diff(project: Project, new_code: str) -> Diff:
    project.refresh_from_db()
    session, _ = get_or_create_session(project, "global")
    return Diff.objects.create(
        session=session,
        project=project,
        base_commit=project.current_commit,
        diff_content=unified_diff(project.current_code, new_code, "workflow.py"),
        patched_code=new_code,
        commit_message="change the limit",
    )


@pytest.fixture
async def socket(user: User, async_api: TokenClient) -> AsyncIterator[Any]:
    sockets: list[WebsocketCommunicator] = []

    async def open_for(project: Project) -> WebsocketCommunicator:
        token = async_api.auth["Authorization"].removeprefix("Token ")
        sockets.append(await open_project_socket(project.id, token))
        return sockets[-1]

    yield open_for
    for each in sockets:
        await each.disconnect()


async def run_tests(
    client: TokenClient, socket: WebsocketCommunicator, *diffs: Diff
) -> list[dict[str, Any]]:
    """Start the diffs' tests together; their `test_completed` events, once all ended."""
    expected = 0
    for diff in diffs:
        url = f"/api/diffs/{diff.id}/test"
        response = await client.post(url, {}, content_type="application/json")
        assert response.status_code == 202, response.content
        expected += len(response.json()["tests"])
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(120):
        while len(events) < expected:
            event = await socket.receive_json_from(timeout=120)
            if event["type"] == "test_completed":
                events.append(event)
    for diff in diffs:
        if task := diff_tests.running_task(diff.id):
            await task
    return events


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("bubblewrap")
async def test_each_test_runs_before_and_after_and_says_what_changed(
    user, async_api, socket
) -> None:
    project = await sync_to_async(_project)(user)
    diff = await sync_to_async(_diff)(project, PATCHED)

    events = await run_tests(async_api, await socket(project), diff)

    assert [(e["test_name"], e["base_status"], e["status"], e["outcome"]) for e in events] == [
        ("Limit is ten", "passed", "failed", "regressed"),
        ("Greets", "failed", "passed", "fixed"),
        ("Has a bot", "passed", "passed", "unchanged-pass"),
        ("Wants a farewell", "failed", "failed", "unchanged-fail"),
    ]
    # The API gives both results of every test.
    stored = (await async_api.get(f"/api/diffs/{diff.id}")).json()["test_results"]
    regressed = stored[0]
    assert regressed["outcome"] == "regressed"
    assert regressed["status"] == "failed" and "AssertionError: 5" in regressed["output"]
    assert regressed["base"]["status"] == "passed"
    assert regressed["base"]["commit"] == project.current_commit
    assert regressed["base"]["cached"] is False
    assert stored[1]["base"]["output"].rstrip().endswith("AssertionError: no greeting")
    assert [r["outcome"] for r in stored] == [e["outcome"] for e in events]
    assert await BaseTestResult.objects.filter(project=project).acount() == 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("bubblewrap")
async def test_the_base_runs_once_per_commit(user, async_api, socket) -> None:
    project = await sync_to_async(_project)(user, [("Random", RANDOM_LINE)])
    events_socket = await socket(project)
    first, second = [await sync_to_async(_diff)(project, PATCHED) for _ in range(2)]

    await run_tests(async_api, events_socket, first)
    await run_tests(async_api, events_socket, second)
    # Two more diffs on the same commit, their tests started together.
    third, fourth = [await sync_to_async(_diff)(project, PATCHED) for _ in range(2)]
    await run_tests(async_api, events_socket, third, fourth)

    async def base_of(diff: Diff, side: str = "base") -> dict[str, Any]:
        result = (await Diff.objects.aget(id=diff.id)).test_results[0]
        return result if side == "patched" else result["base"]

    bases = [await base_of(diff) for diff in (first, second, third, fourth)]
    patched = [(await base_of(d, side="patched"))["output"] for d in (first, second)]
    assert len({base["output"] for base in bases}) == 1  # one run, read back three times
    assert [base["cached"] for base in bases] == [False, True, True, True]
    assert patched[0] != patched[1]  # the patched side runs every time
    assert await BaseTestResult.objects.filter(project=project).acount() == 1

    # A new commit is a new base: its tests run on it once more.
    await sync_to_async(commit_project_code)(
        project.id, PATCHED, "limit 5", "Alice", "alice@example.com", project.current_commit
    )
    fifth = await sync_to_async(_diff)(project, PATCHED + "# more\n")
    await run_tests(async_api, events_socket, fifth)
    new_base = await base_of(fifth)
    assert new_base["cached"] is False and new_base["output"] != bases[0]["output"]
    assert await BaseTestResult.objects.filter(project=project).acount() == 2

    # Editing the test's code is a new test: it runs on the base again too.
    await TestCase.objects.filter(project=project).aupdate(test_code=RANDOM_LINE + "# v2\n")
    sixth = await sync_to_async(_diff)(project, PATCHED + "# more\n")
    await run_tests(async_api, events_socket, sixth)
    assert (await base_of(sixth))["cached"] is False
    assert await BaseTestResult.objects.filter(project=project).acount() == 3


@pytest.mark.django_db
def test_the_review_page_lists_regressions_first(user) -> None:
    project = _project(user)
    diff = _diff(project, PATCHED)
    base = {"status": "passed", "output": "", "duration": 0.1, "isolation": "bubblewrap",
            "limit": "", "cached": False, "commit": project.current_commit}  # fmt: skip
    Diff.objects.filter(id=diff.id).update(
        test_results=[
            {"test_id": "1", "name": "Has a bot", "status": "passed", "output": "", "duration": 0.1,
             "isolation": "bubblewrap", "limit": "", "outcome": "unchanged-pass", "base": base},
            {"test_id": "2", "name": "Limit is ten", "status": "failed", "output": "AssertionError",
             "duration": 0.1, "isolation": "bubblewrap", "limit": "", "outcome": "regressed",
             "base": base},
        ]
    )  # fmt: skip
    browser = Client()
    browser.force_login(user)

    html = browser.get(f"/diffs/{diff.id}/").content.decode()

    assert html.index('data-name="Limit is ten"') < html.index('data-name="Has a bot"')
    assert "4 tests: 1 regressed, 1 passed, 2 not run" in html
    assert "before: passed" in html
