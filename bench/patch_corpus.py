"""The patch corpus through three appliers: ours, `git apply`, GNU `patch`.

For every case in tests/patch_corpus/ each applier either applies the patch to
`agents.py` or refuses it, and the outcome is scored against the case:

- applied correctly: the result equals `expected.py`;
- refused correctly: the case expects a refusal and the file was left unchanged;
- not handled: the case expects a result but the applier refused;
- wrongly applied: the file changed, but not to `expected.py`, or the case expects a
  refusal. This is the one that matters: a change in the wrong place.

`git apply change.diff` runs with its defaults (context must match exactly, no
`--recount`, no `--ignore-whitespace`) in a fresh repository. GNU `patch` runs as
`patch -p1 --forward --batch --no-backup-if-mismatch -r - -i change.diff` (`-p0`
when the headers carry no `a/` `b/` prefixes; its default fuzz factor of 2 stays on).
The time per case is the applier alone: `apply_patch`, or the one subprocess (the
temporary directory and `git init` are set up before the clock starts).

Usage: .venv/bin/python bench/patch_corpus.py
"""

import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents_app.patching import apply_patch  # noqa: E402

CORPUS = ROOT / "tests" / "patch_corpus"
OUTCOMES = ("applied correctly", "refused correctly", "not handled", "wrongly applied")
# An applier takes (original, patch) and returns the new file (None for a refusal)
# and the seconds the application itself took.
Applier = Callable[[str, str], tuple[str | None, float]]


def ours(original: str, patch: str) -> tuple[str | None, float]:
    started = time.perf_counter()
    result = apply_patch(original, patch, "agents.py")
    elapsed = time.perf_counter() - started
    return (result.code if result.ok else None), elapsed


def _run_in_tempdir(
    original: str, patch: str, command: list[str], setup: list[str] | None = None
) -> tuple[str | None, float]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if setup:
            subprocess.run(setup, cwd=work, check=True, capture_output=True)
        target = work / "agents.py"
        target.write_bytes(original.encode())
        (work / "change.diff").write_bytes(patch.encode())
        started = time.perf_counter()
        done = subprocess.run(command, cwd=work, capture_output=True, timeout=30, check=False)
        elapsed = time.perf_counter() - started
        # A patch that renamed or deleted the file changed it, too.
        after = target.read_bytes().decode(errors="replace") if target.exists() else ""
        if done.returncode == 0:
            return after, elapsed
        # A failed run that still changed the file (GNU patch keeps the hunks that
        # applied) is a change, not a refusal.
        return (after if after != original else None), elapsed


def git_apply(original: str, patch: str) -> tuple[str | None, float]:
    return _run_in_tempdir(original, patch, ["git", "apply", "change.diff"], ["git", "init", "-q"])


def gnu_patch(original: str, patch: str) -> tuple[str | None, float]:
    strip = "-p1" if "--- a/" in patch or "diff --git a/" in patch else "-p0"
    command = ["patch", strip, "--forward", "--batch", "--no-backup-if-mismatch"]
    return _run_in_tempdir(original, patch, [*command, "-r", "-", "-i", "change.diff"])


def score(applier: Applier) -> tuple[Counter[str], float, list[str]]:
    """Outcome counts, the median milliseconds per case, and the wrongly applied cases."""
    outcomes: Counter[str] = Counter()
    times = []
    wrong = []
    for case in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        original = (case / "original.py").read_bytes().decode()
        patch = (case / "patch.diff").read_bytes().decode()
        expected_file = case / "expected.py"
        expected = expected_file.read_bytes().decode() if expected_file.exists() else None
        result, elapsed = applier(original, patch)
        times.append(elapsed)
        if result is None or (expected is None and result == original):
            outcomes["refused correctly" if expected is None else "not handled"] += 1
        elif result == expected:
            outcomes["applied correctly"] += 1
        else:
            outcomes["wrongly applied"] += 1
            wrong.append(case.name)
    return outcomes, statistics.median(times) * 1000, wrong


def main() -> None:
    cases = sorted(p for p in CORPUS.iterdir() if p.is_dir())
    refusals = sum(1 for case in cases if (case / "refused.txt").exists())
    print(
        f"patch corpus: {len(cases)} cases, {len(cases) - refusals} to apply and "
        f"{refusals} to refuse (tests/patch_corpus)"
    )
    print(
        f"{'applier':<12}" + "".join(f"{c:>20}" for c in OUTCOMES) + f"{'correct':>9}{'median':>11}"
    )
    wrong_cases = {}
    for name, applier in (
        ("vibegrapher", ours),
        ("git apply", git_apply),
        ("GNU patch", gnu_patch),
    ):
        outcomes, median_ms, wrong_cases[name] = score(applier)
        correct = outcomes["applied correctly"] + outcomes["refused correctly"]
        cells = "".join(f"{outcomes[c]:>11} ({outcomes[c] / len(cases):>4.0%})" for c in OUTCOMES)
        print(f"{name:<12}{cells}{correct / len(cases):>9.1%}{median_ms:>8.2f} ms")
    for name, wrong in wrong_cases.items():
        if wrong:
            print(f"wrongly applied by {name}: {', '.join(wrong)}")


if __name__ == "__main__":
    main()
