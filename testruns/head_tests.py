"""Run a project's test cases against its current code (HEAD), without any diff.

For writing and checking test cases: does this test pass on the code as committed?
The tests run in the same sandbox as a diff's (`testruns.sandbox`, one process each,
at most the server's sandbox slots at once, or on the workers: `testruns.jobs`), and
the answer waits for them: nothing is stored, since the results describe HEAD only at
that moment (a diff's results, in `testruns.diff_tests`, are stored on the diff).
"""

import asyncio
import uuid
from dataclasses import dataclass

from projects.models import Project, TestCase
from testruns import jobs, sandbox
from testruns.before_after import TEST_FILE
from vibegrapher.lib.background import in_thread


class NoTestsToRun(Exception):
    """The project has no test case matching the request."""

    __test__ = False


@dataclass(frozen=True)
class HeadTestResult:
    __test__ = False

    test_id: str
    name: str
    status: sandbox.Status
    output: str
    duration: float
    limit: str


@dataclass(frozen=True)
class HeadTestRun:
    __test__ = False

    commit: str
    results: list[HeadTestResult]


@dataclass(frozen=True)
class _Planned:
    main_file: str
    code: str
    commit: str
    tests: list[TestCase]
    owner_id: int


@in_thread
def _plan(project_id: uuid.UUID, quick_only: bool, test_id: uuid.UUID | None) -> _Planned:
    project = Project.objects.get(id=project_id)
    cases = TestCase.objects.filter(project_id=project_id).order_by("created_at", "name")
    if quick_only:
        cases = cases.filter(quick_test=True)
    if test_id is not None:
        cases = cases.filter(id=test_id)
    tests = list(cases)
    if not tests:
        if test_id is not None:
            raise NoTestsToRun(f"The project has no test case {test_id}.")
        kind = "quick test cases" if quick_only else "test cases"
        raise NoTestsToRun(f"The project has no {kind} to run.")
    return _Planned(
        project.main_file, project.current_code, project.current_commit, tests, project.owner_id
    )


async def _run_one(planned: _Planned, test: TestCase) -> HeadTestResult:
    files = {planned.main_file: planned.code, TEST_FILE: test.test_code}
    try:
        outcome = await jobs.run_sandboxed(
            files, TEST_FILE, sandbox.limits_for(quick=test.quick_test), user_id=planned.owner_id
        )
    except sandbox.SandboxUnavailable:
        raise
    except Exception as exc:  # the sandbox itself failed: said per test, like a diff's run
        return HeadTestResult(str(test.id), test.name, "error",
                              f"The test could not be run: {exc}", 0.0, "")  # fmt: skip
    return HeadTestResult(
        str(test.id), test.name, outcome.status, outcome.output, outcome.duration, outcome.limit
    )


async def run_against_head(
    project: Project, *, quick_only: bool = False, test_id: uuid.UUID | None = None
) -> HeadTestRun:
    """Run the project's tests (all, the quick ones, or one) on its committed code.

    Raises SandboxUnavailable, or NoTestsToRun when nothing matches.
    """
    await asyncio.to_thread(jobs.check_available)
    planned = await _plan(project.id, quick_only, test_id)
    # Concurrently: the sandbox queues them for its slots.
    results = await asyncio.gather(*(_run_one(planned, test) for test in planned.tests))
    return HeadTestRun(planned.commit, list(results))
