"""Each test on the base code and on the patched code: what the change did to it.

A test's base result depends only on the commit, the test's code and its limits, so
it is kept in the database (`BaseTestResult`) and runs once per (commit, test code):
later diffs and later patches of a run on that commit read it back. Runs of the same
base that start together (two diffs, or two processes' worth of one) share one
sandbox run in this process; across processes the first stored result wins. A timeout
or a sandbox failure is not kept (it may be the machine's load, not the code).

The outcome per test compares the two:

| base \\ patched   | passed           | failed           | error / timeout |
|------------------|------------------|------------------|-----------------|
| passed           | `unchanged-pass` | `regressed`      | `regressed`     |
| failed           | `fixed`          | `unchanged-fail` | `error`         |
| error / timeout  | `fixed`          | `error`          | `error`         |

and `error` whenever either side could not be run at all (the sandbox failed).
"""

import asyncio
import hashlib
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from reviews.results import BaseRun, Outcome, PairResult, RunResult
from testruns import jobs, sandbox
from testruns.models import BaseTestResult
from vibegrapher.lib.background import in_thread

logger = logging.getLogger(__name__)

# The test file's name beside the project's file in the sandbox's directory.
TEST_FILE = "vibegrapher_test.py"


@dataclass(frozen=True)
class TestToRun:
    __test__ = False

    id: uuid.UUID
    name: str
    code: str
    quick: bool


@dataclass(frozen=True)
class Sides:
    """What a test runs against: the project's file before and after the change."""

    project_id: uuid.UUID
    main_file: str
    base_commit: str
    # None: the base commit's file cannot be read (the commit is gone).
    base_code: str | None
    patched_code: str
    # Whose tests these are (the project's owner): fair share of the sandbox workers.
    user_id: int | None = None


def code_hash(code: str) -> str:
    """The key of a test's code among the stored base results."""
    return hashlib.sha256(code.encode()).hexdigest()


def classify(base: sandbox.Status, patched: sandbox.Status, *, both_ran: bool = True) -> Outcome:
    """The outcome of one test (see the module's table)."""
    if not both_ran:
        return "error"
    if patched == "passed":
        return "unchanged-pass" if base == "passed" else "fixed"
    if base == "passed":
        return "regressed"
    if base == "failed" and patched == "failed":
        return "unchanged-fail"
    return "error"


# The sandbox itself failed: a result, but no verdict on the code.
_COULD_NOT_RUN = "The test could not be run: "


def _could_not_run(exc: BaseException | str) -> RunResult:
    return RunResult(
        status="error",
        output=f"{_COULD_NOT_RUN}{exc}",
        duration=0.0,
        isolation=sandbox.isolation_label(),
        limit="",
    )


async def run_once(
    main_file: str,
    code: str,
    test: TestToRun,
    on_start: Callable[[], Awaitable[None]] | None = None,
    user_id: int | None = None,
) -> RunResult:
    """The test against `code`, in a sandbox (waiting for one of the server's slots, or
    on a worker: `testruns.jobs`)."""
    files = {main_file: code, TEST_FILE: test.code}
    try:
        outcome = await jobs.run_sandboxed(
            files,
            TEST_FILE,
            sandbox.limits_for(quick=test.quick),
            user_id=user_id,
            on_start=on_start,
        )
    except Exception as exc:  # the sandbox itself failed: the person must still hear
        logger.exception("Test %r could not run", test.name)
        return _could_not_run(exc)
    return RunResult(
        status=outcome.status,
        output=outcome.output,
        duration=outcome.duration,
        isolation=outcome.isolation,
        limit=outcome.limit,
    )


def _cacheable(result: RunResult) -> bool:
    # A timeout may be the machine's load rather than the code; a sandbox failure says
    # nothing about the code at all. Both run again next time.
    return result["status"] != "timeout" and not result["output"].startswith(_COULD_NOT_RUN)


@dataclass(frozen=True)
class _Key:
    project_id: uuid.UUID
    commit: str
    test_hash: str
    quick: bool


@in_thread
def _stored_base(key: _Key) -> RunResult | None:
    found = BaseTestResult.objects.filter(
        project_id=key.project_id, base_commit=key.commit, test_hash=key.test_hash, quick=key.quick
    ).first()
    if found is None:
        return None
    return RunResult(
        status=found.status,
        output=found.output,
        duration=found.duration,
        isolation=found.isolation,
        limit=found.limit,
    )


@in_thread
def _store_base(key: _Key, result: RunResult) -> None:
    # A concurrent process may have stored it first: its result stands.
    BaseTestResult.objects.get_or_create(
        project_id=key.project_id,
        base_commit=key.commit,
        test_hash=key.test_hash,
        quick=key.quick,
        defaults={
            "status": result["status"],
            "output": result["output"],
            "duration": result["duration"],
            "isolation": result["isolation"],
            "limit": result["limit"],
        },
    )


# Base runs going on in this process, per event loop: callers of the same key share one.
_in_flight: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_Key, asyncio.Task[RunResult]]]" = weakref.WeakKeyDictionary()  # noqa: E501


async def base_result(
    sides: Sides, test: TestToRun, on_start: Callable[[], Awaitable[None]] | None = None
) -> BaseRun:
    """The test on the base code: stored, being run here already, or run now.

    `on_start` is awaited when this call's own run gets a sandbox (not when it reads a
    stored result or joins another caller's run).
    """
    if sides.base_code is None:
        gone = _could_not_run(f"the base commit {sides.base_commit[:12]} is not in the repository")
        return BaseRun(**gone, cached=False, commit=sides.base_commit)
    key = _Key(sides.project_id, sides.base_commit, code_hash(test.code), test.quick)
    stored = await _stored_base(key)
    if stored is not None:
        return BaseRun(**stored, cached=True, commit=sides.base_commit)
    running = _in_flight.setdefault(asyncio.get_running_loop(), {})
    task = running.get(key)
    if task is None:

        async def run() -> RunResult:
            # The run is shared: `on_start` only of the caller that started it.
            result = await run_once(
                sides.main_file, sides.base_code or "", test, on_start, sides.user_id
            )
            if _cacheable(result):
                await _store_base(key, result)
            return result

        # Its own task, shielded: a cancelled caller must not cancel another's wait.
        task = asyncio.create_task(run(), name=f"base-test-{key.commit[:8]}-{key.test_hash[:8]}")
        running[key] = task
        task.add_done_callback(lambda _: running.pop(key, None))
    result = await asyncio.shield(task)
    return BaseRun(**result, cached=False, commit=sides.base_commit)


async def run_pair(
    sides: Sides, test: TestToRun, on_start: Callable[[], Awaitable[None]] | None = None
) -> PairResult:
    """The test on both sides, the base first (usually stored already), and its outcome.

    One after the other, not at once: two sandboxes of one test would compete for the
    CPU, and a patched run slowed past its time limit would read as a regression.
    `on_start` is awaited once, when the first of this call's own runs gets a slot.
    """
    started = False

    async def first_start() -> None:
        nonlocal started
        if not started and on_start is not None:
            started = True
            await on_start()

    base = await base_result(sides, test, first_start)
    patched = await run_once(sides.main_file, sides.patched_code, test, first_start, sides.user_id)
    both_ran = not any(r["output"].startswith(_COULD_NOT_RUN) for r in (base, patched))
    return PairResult(
        test_id=str(test.id),
        name=test.name,
        status=patched["status"],
        output=patched["output"],
        duration=patched["duration"],
        isolation=patched["isolation"],
        limit=patched["limit"],
        outcome=classify(base["status"], patched["status"], both_ran=both_ran),
        base=base,
    )


def output_tail(output: str, lines: int = 25, chars: int = 2000) -> str:
    """The end of a test's output: where the assertion and its traceback are."""
    tail = "\n".join(output.rstrip().splitlines()[-lines:])
    return tail if len(tail) <= chars else "…" + tail[-chars:]


def table(results: list[PairResult]) -> str:
    """The before/after table, as plain text for a model to read."""
    rows = ["| test | before (base) | after (patched) | outcome |", "|---|---|---|---|"]
    for result in results:
        base = result.get("base")
        before = base["status"] if base else "not run"
        rows.append(f"| {result['name']} | {before} | {result['status']} | {result['outcome']} |")
    return "\n".join(rows)
