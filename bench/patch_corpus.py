"""The patch corpus through three appliers: ours, `git apply`, GNU `patch`.

For every case in tests/patch_corpus/ each applier either applies the patch to
`agents.py` or refuses it, and the outcome is scored against the case:

- applied correctly: the result equals `expected.py`;
- refused correctly: the case expects a refusal and nothing was changed;
- not handled: the case expects a result but the applier refused;
- wrongly applied: the file changed, but not to `expected.py` (or the case expects a
  refusal). This is the one that matters: a change in the wrong place.

`git apply` runs with its defaults (strict context, whitespace exact) in a fresh
repository; GNU `patch` with `--forward --batch` and `-p1` when the headers carry
`a/` `b/` prefixes, else `-p0` (its default fuzz factor of 2 stays on).

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
# An applier takes (original, patch) and returns the new file, or None for a refusal.
Applier = Callable[[str, str], str | None]


def ours(original: str, patch: str) -> str | None:
    result = apply_patch(original, patch, "agents.py")
    return result.code if result.ok else None


def _in_tempdir(original: str, patch: str, command: Callable[[Path], list[str]]) -> str | None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "agents.py").write_bytes(original.encode())
        (work / "change.diff").write_bytes(patch.encode())
        done = subprocess.run(command(work), cwd=work, capture_output=True, timeout=30)
        target = work / "agents.py"
        # A patch that renamed or deleted the file changed it, too.
        after = target.read_bytes().decode() if target.exists() else ""
        if done.returncode == 0:
            return after
        # A failed run that still changed the file (GNU patch keeps the hunks that
        # applied) is a change, not a refusal.
        return after if after != original else None


def git_apply(original: str, patch: str) -> str | None:
    def command(work: Path) -> list[str]:
        subprocess.run(["git", "init", "-q"], cwd=work, check=True)
        return ["git", "apply", "change.diff"]

    return _in_tempdir(original, patch, command)


def gnu_patch(original: str, patch: str) -> str | None:
    strip = "-p1" if "--- a/" in patch or "diff --git a/" in patch else "-p0"
    return _in_tempdir(
        original,
        patch,
        lambda work: ["patch", strip, "--forward", "--batch", "--no-backup-if-mismatch",
                      "-r", "-", "-i", "change.diff"],
    )  # fmt: skip


def score(applier: Applier) -> tuple[Counter[str], float]:
    outcomes: Counter[str] = Counter()
    times = []
    for case in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        original = (case / "original.py").read_bytes().decode()
        patch = (case / "patch.diff").read_bytes().decode()
        expected_file = case / "expected.py"
        expected = expected_file.read_bytes().decode() if expected_file.exists() else None
        started = time.perf_counter()
        result = applier(original, patch)
        times.append(time.perf_counter() - started)
        if result is None or (expected is None and result == original):
            outcomes["refused correctly" if expected is None else "not handled"] += 1
        elif result == expected:
            outcomes["applied correctly"] += 1
        else:
            outcomes["wrongly applied"] += 1
    return outcomes, statistics.median(times) * 1000


def main() -> None:
    cases = sum(1 for p in CORPUS.iterdir() if p.is_dir())
    columns = ("applied correctly", "refused correctly", "not handled", "wrongly applied")
    print(f"patch corpus: {cases} cases (tests/patch_corpus)")
    print(
        f"{'applier':<12}" + "".join(f"{c:>19}" for c in columns) + f"{'correct':>9}{'median':>11}"
    )
    for name, applier in (
        ("vibegrapher", ours),
        ("git apply", git_apply),
        ("GNU patch", gnu_patch),
    ):
        outcomes, median_ms = score(applier)
        correct = outcomes["applied correctly"] + outcomes["refused correctly"]
        print(
            f"{name:<12}"
            + "".join(f"{outcomes[c]:>19}" for c in columns)
            + f"{correct / cases:>9.0%}{median_ms:>8.2f} ms"
        )


if __name__ == "__main__":
    main()
