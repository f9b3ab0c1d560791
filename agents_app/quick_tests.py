"""Quick tests in the loop: every patch that applies and parses runs the project's quick
tests on the base and the patched file before the Evaluator sees it.

A regression (a test that passes on the base and not on the patch) goes back to the
VibeCoder as `submit_patch`'s result, like a parse error, and costs no Evaluator round;
otherwise the Evaluator reads the before/after table. Each test is emitted as it goes
(`quick_test` events) and runs under the sandbox's limits and concurrency like any
other test run. `VIBECODE_RUN_QUICK_TESTS` (on by default) switches it off.
"""

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from django.conf import settings

from agents_app import all_agents
from agents_app.run_state import VibecodeRun
from projects.models import TestCase
from reviews import before_after, sandbox
from reviews.before_after import PairResult, TestToRun
from sessions_app.events import emit, quick_test_event
from vibegrapher.background import in_thread

logger = logging.getLogger(__name__)

# How much of a failing test's output goes back to the VibeCoder.
FEEDBACK_TAIL_LINES = 25
FEEDBACK_TAIL_CHARS = 2000


@dataclass(frozen=True)
class LoopTests:
    """The quick tests of one patch: their results, or why they could not run."""

    results: list[PairResult]
    unavailable: str = ""

    @property
    def regressions(self) -> list[PairResult]:
        return [result for result in self.results if result["outcome"] == "regressed"]


@in_thread
def _quick_tests(run: VibecodeRun) -> list[TestToRun]:
    cases = TestCase.objects.filter(project_id=run.project_id, quick_test=True).order_by(
        "created_at", "name"
    )
    return [TestToRun(c.id, c.name, c.test_code, c.quick_test) for c in cases]


async def run_quick_tests(run: VibecodeRun, patched_code: str) -> LoopTests | None:
    """The project's quick tests on `patched_code` against the run's base; None when
    there are none to run (or the setting is off): the patch step then goes on as if
    tests did not exist."""
    if not settings.VIBECODE_RUN_QUICK_TESTS:
        return None
    tests = await _quick_tests(run)
    if not tests:
        return None
    try:
        await asyncio.to_thread(sandbox.check_sandbox)
        return await _run(run, tests, patched_code)
    except Exception as exc:
        # The Evaluator still reviews, told the tests did not run: a server that cannot
        # run them must not stop the person's run.
        logger.warning("quick tests not run session=%s: %s", run.session_id, exc)
        return LoopTests([], unavailable=str(exc))


async def _run(run: VibecodeRun, tests: list[TestToRun], patched_code: str) -> LoopTests:
    sides = before_after.Sides(
        project_id=run.project_id,
        main_file=run.filename,
        base_commit=run.base_commit,
        base_code=run.original_code,
        patched_code=patched_code,
    )
    total = len(tests)
    results: list[PairResult] = []
    for test in tests:
        await _emit(run, test.name, "queued", len(results), total)
    for test in tests:

        async def running(name: str = test.name) -> None:
            await _emit(run, name, "running", len(results), total)

        result = await before_after.run_pair(sides, test, on_start=running)
        results.append(result)
        await _emit(run, test.name, result["status"], len(results), total, result)
    return LoopTests(results)


Status = Literal["queued", "running", "passed", "failed", "error", "timeout"]


async def _emit(
    run: VibecodeRun,
    name: str,
    status: Status,
    done: int,
    total: int,
    result: PairResult | None = None,
) -> None:
    if result is None:
        event = quick_test_event(run.session_id, run.iteration, name, status, done, total)
    else:
        event = quick_test_event(
            run.session_id,
            run.iteration,
            name,
            status,
            done,
            total,
            outcome=result["outcome"],
            base_status=result["base"]["status"] if "base" in result else "",
            output=before_after.output_tail(result["output"]),
        )
    await emit(run.project_id, event)


def regression_feedback(notes: str, tests: LoopTests) -> str:
    """`submit_patch`'s answer to a patch that breaks a quick test: which, and why."""
    broken = tests.regressions
    parts = [
        f"{notes}The patch was not reviewed: it breaks "
        f"{'a quick test' if len(broken) == 1 else f'{len(broken)} quick tests'} that "
        f"pass{'es' if len(broken) == 1 else ''} on the current file."
    ]
    for result in broken:
        tail = before_after.output_tail(result["output"], FEEDBACK_TAIL_LINES, FEEDBACK_TAIL_CHARS)
        limit = f" ({result['limit']})" if result["limit"] else ""
        parts.append(
            f"\nQuick test {result['name']!r}: passed before, {result['status']}{limit} "
            f"with your patch. The end of its output:\n{tail or '(no output)'}"
        )
    parts.append(
        "\nBefore and after, every quick test:\n"
        f"{before_after.table(tests.results)}\n\n"
        f"Fix the patch so these tests pass again and call {all_agents.SUBMIT_PATCH} "
        "again with a diff against the file exactly as shown."
    )
    return "\n".join(parts)


def evaluator_section(tests: LoopTests | None) -> str:
    """What the Evaluator reads about the quick tests ("" when there are none)."""
    if tests is None:
        return ""
    if tests.unavailable:
        return f"\nQuick tests: not run ({tests.unavailable}).\n"
    return (
        "\nQuick tests, each run on the current file (before) and on the patched file "
        f"(after):\n{before_after.table(tests.results)}\n"
    )
