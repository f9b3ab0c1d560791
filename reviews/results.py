"""The shape of a diff's test results (`Diff.test_results`), as stored and as the API
describes them.

They are the diff's data, so they are declared here beside it; `testruns` runs the
tests and writes them, and the agents' patch step stores a patch's quick-test results
as its diff's first ones.
"""

from typing import Literal, NotRequired, TypedDict

# A test's verdict, as the sandbox gives it (`testruns.sandbox.Status`).
Status = Literal["passed", "failed", "error", "timeout"]
Outcome = Literal["unchanged-pass", "unchanged-fail", "fixed", "regressed", "error"]


class RunResult(TypedDict):
    """One run of one test, on one side (base or patched)."""

    status: Status
    output: str
    duration: float
    isolation: str
    # Which sandbox limit stopped it ("out of memory", "disk limit", ...), or "".
    limit: str


class BaseRun(RunResult):
    # Read back from an earlier run on the same commit, rather than run now.
    cached: bool
    commit: str


class PairResult(TypedDict):
    """A test on both sides: the patched run's fields, its base run and the outcome."""

    test_id: str
    name: str
    status: Status
    output: str
    duration: float
    isolation: str
    limit: str
    outcome: Outcome
    base: NotRequired[BaseRun]
