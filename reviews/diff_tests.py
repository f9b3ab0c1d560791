"""Run a project's test cases against a diff's patched file, one sandboxed process each.

`start_test_run` claims the diff (one test run at a time), answers at once and leaves
the run to a task: each finished test is emitted (`test_completed`) and stored on the
diff (`test_results`), so a reload mid-run shows what has finished.
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypedDict

from django.db.models import Q
from django.utils import timezone

from projects.models import TestCase
from reviews import sandbox
from reviews.models import Diff
from sessions_app.events import emit
from vibegrapher.background import BackgroundTasks
from vibegrapher.db_threads import off_loop

logger = logging.getLogger(__name__)

# The test file's name beside the project's file in the sandbox's directory.
TEST_FILE = "vibegrapher_test.py"
# Beyond the tests' own time limits: start-up, writing files, storing results.
CLAIM_SLACK = timedelta(seconds=60)

_running = BackgroundTasks("diff-tests")


class StoredResult(TypedDict):
    test_id: str
    name: str
    status: sandbox.Status
    output: str
    duration: float
    isolation: str


class TestsRunning(Exception):
    """The diff already has a test run going."""

    __test__ = False


class NoTests(Exception):
    """The project has no (quick) test cases to run."""


@dataclass(frozen=True)
class PlannedTest:
    id: uuid.UUID
    name: str
    code: str
    quick: bool


@dataclass(frozen=True)
class PlannedRun:
    diff_id: uuid.UUID
    project_id: uuid.UUID
    main_file: str
    patched_code: str
    tests: list[PlannedTest]


def limits_for(test: PlannedTest) -> sandbox.SandboxLimits:
    return sandbox.QUICK_LIMITS if test.quick else sandbox.FULL_LIMITS


def claim_expiry(tests: list[PlannedTest]) -> timedelta:
    """How long a claim can stand before it is taken for one left by a dead process."""
    seconds = sum(limits_for(test).wall_seconds for test in tests)
    return timedelta(seconds=seconds) + CLAIM_SLACK


@off_loop
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
    return PlannedRun(diff.id, diff.project_id, diff.project.main_file, diff.patched_code, tests)


@off_loop
def _claim(run: PlannedRun) -> bool:
    now = timezone.now()
    free = Q(tests_started_at__isnull=True) | Q(tests_started_at__lt=now - claim_expiry(run.tests))
    claimed = Diff.objects.filter(free, id=run.diff_id).update(
        tests_started_at=now, test_results=[], tests_run_at=None
    )
    return claimed == 1


@off_loop
def _store(diff_id: uuid.UUID, results: list[StoredResult], *, finished: bool) -> None:
    fields: dict[str, Any] = {"test_results": results}
    if finished:
        fields |= {"tests_started_at": None, "tests_run_at": timezone.now()}
    Diff.objects.filter(id=diff_id).update(**fields)


async def start_test_run(diff: Diff, *, quick_only: bool = False) -> PlannedRun:
    """Claim the diff and start running its project's tests; answers before they end.

    Raises SandboxUnavailable, NoTests, or TestsRunning when a run of this diff is going.
    """
    await asyncio.to_thread(sandbox.check_sandbox)
    run = await _plan(diff.id, quick_only)
    if not await _claim(run):
        raise TestsRunning("The tests of this diff are already running; wait for their results.")
    _running.start(run.diff_id, _run_all(run))
    return run


def running_task(diff_id: uuid.UUID) -> asyncio.Task[None] | None:
    """The task of the diff's test run in this process, if any (tests await it)."""
    return _running.get(diff_id)


async def _run_one(run: PlannedRun, test: PlannedTest) -> StoredResult:
    files = {run.main_file: run.patched_code, TEST_FILE: test.code}
    try:
        outcome = await sandbox.run_test(files, TEST_FILE, limits_for(test))
    except Exception as exc:  # the sandbox itself failed: the person must still hear
        logger.exception("Test %r of diff %s could not run", test.name, run.diff_id)
        return StoredResult(
            test_id=str(test.id),
            name=test.name,
            status="error",
            output=f"The test could not be run: {exc}",
            duration=0.0,
            isolation=sandbox.isolation_label(),
        )
    return StoredResult(
        test_id=str(test.id),
        name=test.name,
        status=outcome.status,
        output=outcome.output,
        duration=outcome.duration,
        isolation=outcome.isolation,
    )


async def _run_all(run: PlannedRun) -> None:
    results: list[StoredResult] = []
    try:
        for test in run.tests:
            result = await _run_one(run, test)
            results.append(result)
            await _store(run.diff_id, results, finished=False)
            await emit(
                run.project_id,
                {
                    "type": "test_completed",
                    "diff_id": str(run.diff_id),
                    "test_name": result["name"],
                    "status": result["status"],
                    "output": result["output"],
                    "duration": result["duration"],
                },
            )
    finally:
        await _store(run.diff_id, results, finished=True)
