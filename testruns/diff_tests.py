"""Run a project's test cases against a diff's base and patched file, one sandbox each.

Each test runs on the patched file and on the diff's base commit (that side read back
when it ran before: `before_after`), and its result carries both and the `outcome`
(`regressed`, `fixed`, ...). `start_test_run` claims the diff (one test run at a
time), answers at once and leaves the run to a task. Each test is "queued" until one
of the server's sandbox slots is free, then "running" (`test_status`); each finished
test is emitted (`test_completed`) and stored on the diff (`test_results`), so a
reload mid-run shows what has finished.
A run whose server process died is finished at that host's next start-up
(`recover_after_restart`), its unfinished tests stored as errors. A server that stops
gracefully (SIGTERM, vibegrapher/server/shutdown.py) lets its runs finish while it
drains and stores what is left as errors itself (`end_test_runs`).
"""

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from django.db.models import Q
from django.utils import timezone

from projects.git import repository as git
from projects.models import TestCase
from reviews.models import Diff
from reviews.results import PairResult as StoredResult
from sessions_app.events import emit, test_completed_event, test_status_event
from testruns import before_after, jobs, sandbox
from testruns.before_after import TestToRun as PlannedTest
from vibegrapher.lib.background import BackgroundTasks, in_thread
from vibegrapher.server import shutdown

logger = logging.getLogger(__name__)

# Beyond the tests' own time limits: start-up, writing files, storing results.
CLAIM_SLACK = timedelta(seconds=60)
# This server process, as recorded on the diffs whose tests it runs.
TEST_RUN_OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
DIED_OUTPUT = "The server stopped before this test finished: run the tests again."
RESTARTED_OUTPUT = "The server restarted before this test finished: run the tests again."
# At shutdown, what a cancelled run gets to store its errors and emit them.
STORE_SECONDS = 1.0

_running = BackgroundTasks("diff-tests")


class TestsRunning(Exception):
    """The diff already has a test run going."""

    __test__ = False


class NoTests(Exception):
    """The project has no (quick) test cases to run."""


@dataclass(frozen=True)
class PlannedRun:
    diff_id: uuid.UUID
    project_id: uuid.UUID
    sides: before_after.Sides
    tests: list[PlannedTest]


def limits_for(test: PlannedTest) -> sandbox.SandboxLimits:
    return sandbox.limits_for(quick=test.quick)


def claim_expiry(tests: list[PlannedTest]) -> timedelta:
    """How long a claim can stand before it is taken for one left by a dead process
    on another host (this host's dead runs are finished at start-up)."""
    # Twice per test (base and patched side); queued behind other runs for sandbox
    # slots, a test can wait as long as it runs.
    seconds = 2 * sum(limits_for(test).wall_seconds for test in tests)
    return timedelta(seconds=2 * seconds) + CLAIM_SLACK


@in_thread
def _plan(diff_id: uuid.UUID, quick_only: bool) -> PlannedRun:
    diff = Diff.objects.select_related("project").get(id=diff_id)
    cases = TestCase.objects.filter(project_id=diff.project_id).order_by("created_at", "name")
    if quick_only:
        cases = cases.filter(quick_test=True)
    tests = [PlannedTest(c.id, c.name, c.test_code, c.quick_test) for c in cases]
    if not tests:
        kind = "quick test cases" if quick_only else "test cases"
        raise NoTests(
            f"The project has no {kind}: add one with POST "
            f"/api/projects/{diff.project_id}/tests, then run the tests again."
        )
    project = diff.project
    try:
        base_code: str | None = git.read_file_at(project.slug, project.main_file, diff.base_commit)
    except git.GitError:
        base_code = None  # the base commit is gone (an undone commit): no "before"
    sides = before_after.Sides(
        project_id=project.id,
        main_file=project.main_file,
        base_commit=diff.base_commit,
        base_code=base_code,
        patched_code=diff.patched_code,
        user_id=project.owner_id,
    )
    return PlannedRun(diff.id, diff.project_id, sides, tests)


@in_thread
def _claim(run: PlannedRun) -> bool:
    now = timezone.now()
    # An expired claim is another process's that died; this process's claims are live
    # (its run finishes them), however long its tests waited for a sandbox.
    expired = Q(tests_started_at__lt=now - claim_expiry(run.tests)) & ~Q(tests_owner=TEST_RUN_OWNER)
    free = Q(tests_started_at__isnull=True) | expired
    planned = [{"test_id": str(test.id), "name": test.name} for test in run.tests]
    claimed = Diff.objects.filter(free, id=run.diff_id).update(
        tests_started_at=now,
        test_results=[],
        tests_run_at=None,
        tests_owner=TEST_RUN_OWNER,
        tests_planned=planned,
    )
    return claimed == 1


@in_thread
def _store(diff_id: uuid.UUID, results: list[StoredResult], *, finished: bool) -> None:
    fields: dict[str, Any] = {"test_results": results}
    if finished:
        fields |= {"tests_started_at": None, "tests_run_at": timezone.now(), "tests_owner": ""}
    Diff.objects.filter(id=diff_id).update(**fields)


async def start_test_run(diff: Diff, *, quick_only: bool = False) -> PlannedRun:
    """Claim the diff and start running its project's tests; answers before they end.

    Raises SandboxUnavailable, NoTests, or TestsRunning when a run of this diff is going.
    """
    await asyncio.to_thread(jobs.check_available)
    run = await _plan(diff.id, quick_only)
    if not await _claim(run):
        raise TestsRunning("The tests of this diff are already running; wait for their results.")
    _running.start(run.diff_id, _run_all(run))
    return run


def running_task(diff_id: uuid.UUID) -> asyncio.Task[None] | None:
    """The task of the diff's test run in this process, if any (tests await it)."""
    return _running.get(diff_id)


async def _emit_status(
    run: PlannedRun, test: PlannedTest, status: Literal["queued", "running"]
) -> None:
    await emit(run.project_id, test_status_event(run.diff_id, test.name, status))


async def _run_one(run: PlannedRun, test: PlannedTest) -> StoredResult:
    async def running() -> None:
        await _emit_status(run, test, "running")

    return await before_after.run_pair(run.sides, test, on_start=running)


def _ended(test: PlannedTest, output: str) -> StoredResult:
    """A test that did not run to its end, stored as an error."""
    return StoredResult(
        test_id=str(test.id),
        name=test.name,
        status="error",
        output=output,
        duration=0.0,
        isolation=sandbox.isolation_label(),
        limit="",
        outcome="error",
    )


async def _run_all(run: PlannedRun) -> None:
    results: list[StoredResult] = []
    try:
        for test in run.tests:
            await _emit_status(run, test, "queued")
        for test in run.tests:
            result = await _run_one(run, test)
            results.append(result)
            await _store(run.diff_id, results, finished=False)
            await emit(
                run.project_id,
                test_completed_event(
                    run.diff_id,
                    result["name"],
                    result["status"],
                    result["output"],
                    result["duration"],
                    result["limit"],
                    result["outcome"],
                    result["base"]["status"] if "base" in result else None,
                ),
            )
    except asyncio.CancelledError:
        # The server is stopping (`end_test_runs`): what did not finish is an error
        # that says so, on the diff and on every page.
        done = {result["test_id"] for result in results}
        unfinished = [test for test in run.tests if str(test.id) not in done]
        results += [_ended(test, RESTARTED_OUTPUT) for test in unfinished]
        await _store(run.diff_id, results, finished=True)
        for test in unfinished:
            await emit(
                run.project_id,
                test_completed_event(
                    run.diff_id, test.name, "error", RESTARTED_OUTPUT, 0.0, "", "error", None
                ),
            )
        raise
    except BaseException:
        await _store(run.diff_id, results, finished=True)
        raise
    else:
        await _store(run.diff_id, results, finished=True)


async def end_test_runs() -> None:
    """At shutdown: let this process's diff test runs finish while requests drain,
    then cancel what is left (its tests stored as errors, `RESTARTED_OUTPUT`)."""
    tasks = _running.tasks()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, shutdown.time_left() - STORE_SECONDS))
    for task in pending:
        task.cancel()
    if pending:
        logger.warning("shutdown: %d diff test runs ended unfinished", len(pending))
        await asyncio.wait(pending, timeout=STORE_SECONDS)


def recover_after_restart() -> int:
    """At start-up: remove what dead test runs left on this host (sandbox cgroups and
    directories), and finish the runs that died with their process, so the diff's tests
    can run again at once. Returns how many runs were finished; never raises (a
    database not migrated or not reachable yet must not stop the server)."""
    try:
        return _recover_after_restart()
    except Exception as exc:
        logger.warning("start-up sweep of dead test runs skipped: %s", exc)
        return 0


def _recover_after_restart() -> int:
    removed = sandbox.remove_leftovers()
    if removed:
        logger.warning("removed %d leftovers of dead test runs", len(removed))
    host = TEST_RUN_OWNER.split(":", 1)[0]
    died = (
        Diff.objects.filter(tests_started_at__isnull=False, tests_owner__startswith=f"{host}:")
        .exclude(tests_owner=TEST_RUN_OWNER)
        .only("id", "tests_owner", "tests_planned", "test_results")
    )
    finished = 0
    for diff in died:
        results: list[StoredResult] = list(diff.test_results or [])
        done = {result["test_id"] for result in results}
        results += [
            StoredResult(
                test_id=planned["test_id"],
                name=planned["name"],
                status="error",
                output=DIED_OUTPUT,
                duration=0.0,
                isolation=sandbox.isolation_label(),
                limit="",
                outcome="error",
            )
            for planned in diff.tests_planned or []
            if planned["test_id"] not in done
        ]
        # Only if it is still that dead process's claim (not a new run's).
        finished += Diff.objects.filter(
            id=diff.id, tests_owner=diff.tests_owner, tests_started_at__isnull=False
        ).update(
            test_results=results, tests_started_at=None, tests_owner="", tests_run_at=timezone.now()
        )
    return finished
