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

from projects.models import TestCase
from reviews.results import PairResult
from sessions_app.events import emit
from testruns import before_after
from testruns.before_after import Sides, TestToRun
from vibegrapher.background import in_thread


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
    event = {
        "type": "quick_test",
        "session_id": str(at.session_id),
        "iteration": at.iteration,
        "test_name": name,
        "status": status,
        "done": done,
        "total": total,
    }
    if result is not None:
        event["outcome"] = result["outcome"]
        event["base_status"] = result["base"]["status"] if "base" in result else ""
        event["output"] = before_after.output_tail(result["output"])
    await emit(sides.project_id, event)  # type: ignore[arg-type]
