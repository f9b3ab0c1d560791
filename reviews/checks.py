"""The checks line beside Approve (static/review.js builds the same line live)."""

from typing import Any

# Regressions lead: they are what a reviewer must see before approving.
ORDER = ["regressed", "fixed", "passed", "failed", "error", "timeout", "running", "queued"]


def check_label(result: dict[str, Any]) -> str:
    """How a result counts: by its before/after outcome, or by its status when it has none
    (a result stored before outcomes existed, or a test still going)."""
    status = str(result.get("status", "error"))
    outcome = result.get("outcome")
    if outcome == "regressed" or outcome == "fixed":
        return str(outcome)
    if outcome == "error" and status in ("passed", "failed"):
        return "error"
    return status


def lead_with_regressions(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results in the order the page lists them: regressions first, then test order."""
    return sorted(results, key=lambda result: check_label(result) != "regressed")


def checks_summary(test_names: list[str], results: list[dict[str, Any]]) -> str:
    """ "2 tests: 1 regressed, 1 passed", with the tests that have no result as "not run".

    Only the project's current test cases count: a result of a deleted one does not.
    """
    test_count = len(test_names)
    results = [r for r in results if r.get("name") in test_names]
    if not test_count:
        return "No tests"
    counts: dict[str, int] = {}
    for result in results:
        label = check_label(result)
        counts[label] = counts.get(label, 0) + 1
    ordered = sorted(counts, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))
    parts = [f"{counts[label]} {label}" for label in ordered]
    not_run = test_count - len(results)
    if not_run > 0:
        parts.append(f"{not_run} not run")
    return f"{test_count} test{'s' if test_count != 1 else ''}: {', '.join(parts)}"
