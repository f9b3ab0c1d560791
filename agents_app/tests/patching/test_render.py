"""`unified_diff` writes what `git diff` writes, and its diffs apply back."""

import random
import subprocess
from pathlib import Path

import pytest

from agents_app.patching.apply import apply_patch
from agents_app.patching.render import unified_diff
from agents_app.tests.patching.test_apply import CODE, WORKFLOWS, random_edit


def git_diff(tmp_path: Path, old: str, new: str) -> str:
    for side, content in (("a", old), ("b", new)):
        (tmp_path / side).mkdir(exist_ok=True)
        (tmp_path / side / "agents.py").write_bytes(content.encode())
    git = subprocess.run(
        ["git", "-c", "core.autocrlf=false", "diff", "--no-index", "--no-color",
         "a/agents.py", "b/agents.py"],
        cwd=tmp_path, capture_output=True, check=False,
    )  # fmt: skip
    assert git.returncode in (0, 1), git.stderr
    return (
        git.stdout.decode()
        .replace("a/a/agents.py", "a/agents.py")
        .replace("b/b/agents.py", "b/agents.py")
    )


@pytest.mark.parametrize(
    "new",
    [
        CODE.replace("return 1", "return 2"),
        CODE.replace('instructions="Help."', 'instructions="Help more."'),
        "# header\n" + CODE,
        CODE.rstrip("\n"),
        CODE + "x = 1",
        "",
        CODE.replace("\n", "\r\n"),
    ],
    ids=["one-hunk", "two-hunks", "top", "drop-final-newline", "no-final-newline", "emptied",
         "crlf"],
)  # fmt: skip
def test_unified_diff_is_what_git_diff_writes(tmp_path: Path, new: str) -> None:
    assert unified_diff(CODE, new, "agents.py") == git_diff(tmp_path, CODE, new)
    assert unified_diff(new, CODE, "agents.py") == git_diff(tmp_path, new, CODE)


def test_unified_diff_matches_git_on_generated_edits(tmp_path: Path) -> None:
    rng = random.Random(3)
    for _ in range(30):
        original = rng.choice(WORKFLOWS)
        edited = random_edit(rng, original)
        if rng.random() < 0.2:
            edited = edited.rstrip("\n")

        assert unified_diff(original, edited, "agents.py") == git_diff(tmp_path, original, edited)


def test_unified_diff_round_trips_and_is_empty_for_equal_files() -> None:
    new = CODE.replace("return 1", "return 2")
    assert unified_diff(CODE, CODE, "agents.py") == ""
    assert apply_patch(CODE, unified_diff(CODE, new, "agents.py"), "agents.py").code == new
