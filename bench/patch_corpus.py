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

The held-out split (tests/patch_corpus/heldout/) is scored apart, after the main
corpus: its cases were written before the applier was changed for them and were not
looked at while it was, so its figures estimate the rate on kinds of damage the
applier was not tuned to.

V4A patches (`*** Begin Patch`, the format of OpenAI's apply_patch tool) are
reported apart from unified diffs. `git apply` and GNU `patch` cannot read V4A: they
are still run on those cases and counted in the "all cases" table (where every V4A
case is a refusal for them: "refused correctly" when the case expects one, "not
handled" otherwise), and marked "n/a" in the V4A table.

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

from agents_app.patching.apply import apply_patch  # noqa: E402

CORPUS = ROOT / "tests" / "patch_corpus"
HELDOUT = CORPUS / "heldout"
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
        # A lone surrogate goes to the tool as the bytes the case file holds.
        (work / "change.diff").write_bytes(patch.encode("utf-8", "surrogatepass"))
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


def read(path: Path) -> str:
    """A case file; a lone surrogate is stored as its three bytes (see the README)."""
    return path.read_bytes().decode("utf-8", "surrogatepass")


def is_v4a(case: Path) -> bool:
    patch = read(case / "patch.diff")
    return "*** Begin Patch" in patch or "*** Update File:" in patch


def score(applier: Applier, cases: list[Path]) -> tuple[Counter[str], list[float], list[str]]:
    """Outcome counts, the seconds per case, and the wrongly applied cases."""
    outcomes: Counter[str] = Counter()
    times = []
    wrong = []
    for case in cases:
        original = read(case / "original.py")
        patch = read(case / "patch.diff")
        expected_file = case / "expected.py"
        expected = read(expected_file) if expected_file.exists() else None
        result, elapsed = applier(original, patch)
        times.append(elapsed)
        if result is None or (expected is None and result == original):
            outcomes["refused correctly" if expected is None else "not handled"] += 1
        elif result == expected:
            outcomes["applied correctly"] += 1
        else:
            outcomes["wrongly applied"] += 1
            wrong.append(case.name)
    return outcomes, times, wrong


def table(
    title: str, cases: list[Path], results: dict[str, tuple[Counter[str], list[float], list[str]]]
) -> None:
    refusals = sum(1 for case in cases if (case / "refused.txt").exists())
    print(
        f"\n{title}: {len(cases)} cases, {len(cases) - refusals} to apply and {refusals} to refuse"
    )
    print(
        f"{'applier':<12}" + "".join(f"{c:>20}" for c in OUTCOMES) + f"{'correct':>9}{'median':>11}"
    )
    for name, (outcomes, times, _) in results.items():
        if not times:
            print(f"{name:<12}{'n/a: cannot read V4A (see the all-cases table)':>80}")
            continue
        correct = outcomes["applied correctly"] + outcomes["refused correctly"]
        cells = "".join(f"{outcomes[c]:>11} ({outcomes[c] / len(cases):>4.0%})" for c in OUTCOMES)
        median_ms = statistics.median(times) * 1000
        print(f"{name:<12}{cells}{correct / len(cases):>9.1%}{median_ms:>8.2f} ms")


def cases_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if (p / "original.py").exists())


def report(label: str, cases: list[Path]) -> None:
    """The all-cases, unified and V4A tables for one set of cases."""
    v4a = [case for case in cases if is_v4a(case)]
    unified = [case for case in cases if not is_v4a(case)]
    appliers = (("vibegrapher", ours), ("git apply", git_apply), ("GNU patch", gnu_patch))
    print(f"{label} ({len(unified)} unified diffs, {len(v4a)} V4A)")
    by_kind: dict[str, dict[str, tuple[Counter[str], list[float], list[str]]]] = {}
    for kind, subset in (("unified", unified), ("v4a", v4a)):
        by_kind[kind] = {name: score(applier, subset) for name, applier in appliers}
    everything = {
        name: (
            by_kind["unified"][name][0] + by_kind["v4a"][name][0],
            by_kind["unified"][name][1] + by_kind["v4a"][name][1],
            by_kind["unified"][name][2] + by_kind["v4a"][name][2],
        )
        for name, _ in appliers
    }
    table("all cases", cases, everything)
    table("unified diffs", unified, by_kind["unified"])
    not_v4a_readers = {"git apply", "GNU patch"}
    table(
        "V4A patches",
        v4a,
        {
            name: (Counter(), [], []) if name in not_v4a_readers else result
            for name, result in by_kind["v4a"].items()
        },
    )
    for name, (_, _, wrong) in everything.items():
        if wrong:
            print(f"wrongly applied by {name}: {', '.join(sorted(wrong))}")
    missed = [
        case.name
        for case in cases
        if (case / "expected.py").exists()
        and ours(read(case / "original.py"), read(case / "patch.diff"))[0] is None
    ]
    if missed:
        print(f"not handled by vibegrapher: {', '.join(missed)}")


def main() -> None:
    report("patch corpus: tests/patch_corpus", cases_in(CORPUS))
    print()
    report("held-out split: tests/patch_corpus/heldout", cases_in(HELDOUT))


if __name__ == "__main__":
    main()
