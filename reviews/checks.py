"""The checks line beside Approve (static/review.js builds the same line live)."""

from typing import Any


def checks_summary(test_count: int, results: list[dict[str, Any]]) -> str:
    """ "2 tests: 1 passed, 1 failed", with the tests that have no result as "not run"."""
    if not test_count:
        return "No tests"
    counts: dict[str, int] = {}
    for result in results:
        status = str(result.get("status", "error"))
        counts[status] = counts.get(status, 0) + 1
    parts = [f"{n} {status}" for status, n in counts.items()]
    not_run = test_count - len(results)
    if not_run > 0:
        parts.append(f"{not_run} not run")
    return f"{test_count} test{'s' if test_count != 1 else ''}: {', '.join(parts)}"
