"""The checks line beside Approve (static/review.js builds the same line live)."""

from typing import Any

ORDER = ["passed", "failed", "error", "timeout", "running", "queued"]


def checks_summary(test_names: list[str], results: list[dict[str, Any]]) -> str:
    """ "2 tests: 1 passed, 1 failed", with the tests that have no result as "not run".

    Only the project's current test cases count: a result of a deleted one does not.
    """
    test_count = len(test_names)
    results = [r for r in results if r.get("name") in test_names]
    if not test_count:
        return "No tests"
    counts: dict[str, int] = {}
    for result in results:
        status = str(result.get("status", "error"))
        counts[status] = counts.get(status, 0) + 1
    ordered = sorted(counts, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))
    parts = [f"{counts[status]} {status}" for status in ordered]
    not_run = test_count - len(results)
    if not_run > 0:
        parts.append(f"{not_run} not run")
    return f"{test_count} test{'s' if test_count != 1 else ''}: {', '.join(parts)}"
