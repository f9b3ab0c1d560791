"""The runner of the loop's quick tests: a patch's quick tests on the base and the
patched file, each emitted as it goes (`quick_test` events).

They run under the sandbox's limits and concurrency like any other test run. What the
results mean for the patch (back to the VibeCoder on a regression, or on to the
Evaluator with the before/after table) is the patch step's business: the gate half,
in `agents_app.quick_tests`.
"""

import uuid
from dataclasses import dataclass
from typing import Literal

from projects.models import Project, TestCase
from reviews.results import PairResult
from sessions_app.events import emit, quick_test_event
from testruns import before_after
from testruns.before_after import Sides, TestToRun
from vibegrapher.lib.background import in_thread


@dataclass(frozen=True)
class LoopTests:
    """The quick tests of one patch: their results, or why they could not run."""

    results: list[PairResult]
    unavailable: str = ""

    @property
    def regressions(self) -> list[PairResult]:
        return [result for result in self.results if result["outcome"] == "regressed"]


@dataclass(frozen=True)
class LoopPosition:
    """Where in a vibecode run the tests run: their events name the session and iteration."""

    session_id: uuid.UUID
    iteration: int


@in_thread
def quick_tests_of(project_id: uuid.UUID) -> list[TestToRun]:
    cases = TestCase.objects.filter(project_id=project_id, quick_test=True).order_by(
        "created_at", "name"
    )
    return [TestToRun(c.id, c.name, c.test_code, c.quick_test) for c in cases]


@in_thread
def owner_of(project_id: uuid.UUID) -> int:
    """Whose tests they are: the key of their fair share of the sandbox workers."""
    return int(Project.objects.values_list("owner_id", flat=True).get(id=project_id))


async def run_loop_tests(sides: Sides, tests: list[TestToRun], at: LoopPosition) -> LoopTests:
    """Each test on both sides, one after the other; raises what the sandbox raises."""
    total = len(tests)
    results: list[PairResult] = []
    for test in tests:
        await _emit(sides, at, test.name, "queued", len(results), total)
    for test in tests:

        async def running(name: str = test.name) -> None:
            await _emit(sides, at, name, "running", len(results), total)

        result = await before_after.run_pair(sides, test, on_start=running)
        results.append(result)
        await _emit(sides, at, test.name, result["status"], len(results), total, result)
    return LoopTests(results)


Status = Literal["queued", "running", "passed", "failed", "error", "timeout"]


async def _emit(
    sides: Sides,
    at: LoopPosition,
    name: str,
    status: Status,
    done: int,
    total: int,
    result: PairResult | None = None,
) -> None:
    if result is None:
        event = quick_test_event(at.session_id, at.iteration, name, status, done, total)
    else:
        event = quick_test_event(
            at.session_id,
            at.iteration,
            name,
            status,
            done,
            total,
            outcome=result["outcome"],
            base_status=result["base"]["status"] if "base" in result else "",
            output=before_after.output_tail(result["output"]),
        )
    await emit(sides.project_id, event)
