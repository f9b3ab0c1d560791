"""Quick tests in the loop: every patch that applies and parses runs the project's quick
tests on the base and the patched file before the Evaluator sees it.

A regression (a test that passes on the base and not on the patch) goes back to the
VibeCoder as `submit_patch`'s result, like a parse error, and costs no Evaluator round;
otherwise the Evaluator reads the before/after table. This is the gate; the tests run
in `testruns.quick_tests` (each emitted as it goes, under the sandbox's limits and
concurrency like any other test run). `VIBECODE_RUN_QUICK_TESTS` (on by default)
switches it off.
"""

import asyncio
import logging

from django.conf import settings

from agents_app import all_agents
from agents_app.run_state import VibecodeRun
from testruns import before_after, jobs
from testruns.quick_tests import (
    LoopPosition,
    LoopTests,
    owner_of,
    quick_tests_of,
    run_loop_tests,
)

logger = logging.getLogger(__name__)

# How much of a failing test's output goes back to the VibeCoder.
FEEDBACK_TAIL_LINES = 25
FEEDBACK_TAIL_CHARS = 2000


async def run_quick_tests(run: VibecodeRun, patched_code: str) -> LoopTests | None:
    """The project's quick tests on `patched_code` against the run's base; None when
    there are none to run (or the setting is off): the patch step then goes on as if
    tests did not exist."""
    if not settings.VIBECODE_RUN_QUICK_TESTS:
        return None
    tests = await quick_tests_of(run.project_id)
    if not tests:
        return None
    sides = before_after.Sides(
        project_id=run.project_id,
        main_file=run.filename,
        base_commit=run.base_commit,
        base_code=run.original_code,
        patched_code=patched_code,
        user_id=await owner_of(run.project_id),
    )
    try:
        await asyncio.to_thread(jobs.check_available)
        return await run_loop_tests(sides, tests, LoopPosition(run.session_id, run.iteration))
    except Exception as exc:
        # The Evaluator still reviews, told the tests did not run: a server that cannot
        # run them must not stop the person's run.
        logger.warning("quick tests not run session=%s: %s", run.session_id, exc)
        return LoopTests([], unavailable=str(exc))


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
