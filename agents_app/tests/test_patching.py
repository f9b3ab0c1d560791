"""The patch applier's contract with the VibeCoder: precise refusals, git-exact diffs."""

import subprocess
from pathlib import Path

import pytest

from agents_app.patching import apply_patch, unified_diff

CODE = """\
from agents import Agent

first = Agent(name="First", instructions="Help.")
second = Agent(name="Second", instructions="Help.")


def helper():
    return 1
"""


def test_refusal_names_the_hunk_and_quotes_its_lines() -> None:
    patch = (
        "--- a/agents.py\n+++ b/agents.py\n"
        "@@ -1,1 +1,1 @@\n-from agents import Agent\n+from agents import Agent, Runner\n"
        "@@ -7,2 +7,2 @@\n def helper():\n-    return 2\n+    return 3\n"
    )

    result = apply_patch(CODE, patch, "agents.py")

    assert not result.ok and result.code is None
    assert result.error is not None
    assert result.error.startswith("Hunk 2 of 2 does not match the file")
    assert "    |def helper():\n    |    return 2" in result.error


def test_ambiguous_hunk_is_refused_with_its_places() -> None:
    patch = "@@ @@\n-    return 1\n+    return 2\n"
    code = CODE + "\n\ndef other():\n    return 1\n"

    result = apply_patch(code, patch, "agents.py")

    assert result.error is not None
    assert "matches 2 places (lines 8, 12)" in result.error


def test_syntax_error_quotes_the_parser() -> None:
    patch = "@@ -8 +8 @@\n-    return 1\n+    return (1\n"

    result = apply_patch(CODE, patch, "agents.py")

    assert result.error is not None
    assert "does not parse: line 8" in result.error
    assert "    return (1" in result.error


def test_methods_are_reported() -> None:
    exact = unified_diff(CODE, CODE.replace("return 1", "return 2"), "agents.py")
    assert apply_patch(CODE, exact, "agents.py").method == "exact"
    moved = exact.replace("@@ -5,4 +5,4 @@", "@@ -1,4 +1,4 @@")
    assert apply_patch(CODE, moved, "agents.py").method == "relocated"
    v4a = (
        "*** Begin Patch\n*** Update File: agents.py\n"
        "@@ def helper():\n-    return 1\n+    return 2\n*** End Patch\n"
    )
    result = apply_patch(CODE, v4a, "agents.py")
    assert (result.ok, result.method) == (True, "v4a")
    assert result.code == CODE.replace("return 1", "return 2")


@pytest.mark.parametrize(
    "new",
    [
        CODE.replace("return 1", "return 2"),
        CODE.replace('instructions="Help."', 'instructions="Help more."'),
        "# header\n" + CODE,
        CODE.rstrip("\n"),
        CODE + "x = 1",
        "",
    ],
    ids=["one-hunk", "two-hunks", "top", "drop-final-newline", "no-final-newline", "emptied"],
)
def test_unified_diff_is_what_git_diff_writes(tmp_path: Path, new: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "agents.py").write_text(CODE)
    (tmp_path / "b" / "agents.py").write_text(new)
    git = subprocess.run(
        ["git", "diff", "--no-index", "--no-color", "a/agents.py", "b/agents.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    expected = git.stdout.replace(
        "diff --git a/a/agents.py b/b/agents.py", "diff --git a/agents.py b/agents.py"
    )
    expected = expected.replace("--- a/a/agents.py", "--- a/agents.py").replace(
        "+++ b/b/agents.py", "+++ b/agents.py"
    )

    assert unified_diff(CODE, new, "agents.py") == expected


def test_equal_files_have_no_diff() -> None:
    assert unified_diff(CODE, CODE, "agents.py") == ""
