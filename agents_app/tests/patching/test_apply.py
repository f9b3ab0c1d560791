"""The patch applier's contract with the VibeCoder: precise refusals, never a wrong place."""

import ast
import random
import re
from pathlib import Path

import pytest

from agents_app.patching.apply import apply_patch
from agents_app.patching.render import unified_diff

CODE = """\
from agents import Agent

first = Agent(name="First", instructions="Help.")
second = Agent(name="Second", instructions="Help.")


def helper():
    return 1
"""
CORPUS = Path(__file__).resolve().parents[3] / "tests" / "patch_corpus"
CASES = sorted(case for case in CORPUS.iterdir() if (case / "original.py").exists())
ORIGINALS = sorted({(case / "original.py").read_text() for case in CASES})
WORKFLOWS = [code for code in ORIGINALS if len(code.splitlines()) >= 30]


def hunk(header: str, *lines: str) -> str:
    return header + "\n" + "".join(line + "\n" for line in lines)


HEADERS = "--- a/agents.py\n+++ b/agents.py\n"
NO_NEWLINE = "\\ No newline at end of file\n"


# --- Refusals say which hunk, which lines, which parser message ---------------------


def test_refusal_names_the_hunk_and_quotes_its_lines() -> None:
    patch = (
        HEADERS
        + hunk("@@ -1,1 +1,1 @@", "-from agents import Agent", "+from agents import Agent, Runner")
        + hunk("@@ -7,2 +7,2 @@", " def helper():", "-    return 2", "+    return 3")
    )

    result = apply_patch(CODE, patch, "agents.py")

    assert (result.ok, result.code, result.method) == (False, None, "")
    assert result.error is not None
    assert result.error.startswith("Hunk 2 of 2 does not match agents.py")
    assert "(header line 7)" in result.error
    assert "    |def helper():\n    |    return 2\n" in result.error
    # The nearest place and its differing line, so the model can copy it.
    assert "line 8 of agents.py is\n    |    return 1\nwhere the hunk expects\n" in result.error


def test_ambiguous_hunk_is_refused_with_its_places() -> None:
    code = CODE + "\n\ndef other():\n    return 1\n"

    result = apply_patch(code, hunk("@@ @@", "-    return 1", "+    return 2"), "agents.py")

    assert result.error is not None
    assert result.error.startswith("Hunk 1 of 1 matches 2 places in agents.py (lines 8, 12)")
    assert "    |    return 1" in result.error


def test_a_header_number_that_points_at_one_of_the_places_decides() -> None:
    code = CODE + "\n\ndef other():\n    return 1\n"

    result = apply_patch(code, hunk("@@ -12 +12 @@", "-    return 1", "+    return 2"), "agents.py")

    assert result.code == CODE + "\n\ndef other():\n    return 2\n"
    assert result.method == "exact"


def test_only_a_header_as_diff_writes_it_chooses_between_identical_places() -> None:
    code = "x = 1\n\n\n" + "def f():\n    return 1\n\n\n" * 4 + "y = 2\n"
    new = code.replace("return 1", "return X", 2).replace("return X", "return 1", 1)
    diff = unified_diff(code, new, "agents.py")  # its context (blank lines too) is in two places
    assert "@@ -6,7 +6,7 @@" in diff

    assert apply_patch(code, diff, "agents.py").code == new
    sloppy = apply_patch(code, diff.replace("+6,7", "+7,7"), "agents.py")
    assert sloppy.error is not None
    # Its heading `def f():` leaves out line 2 (under `x = 1`); two places remain.
    assert sloppy.error.startswith("Hunk 1 of 1 matches 2 places in agents.py (lines 6, 10)")
    assert "header's numbers do not fit" in sloppy.error


def test_syntax_error_quotes_the_parser_line_and_message() -> None:
    result = apply_patch(CODE, hunk("@@ -8 +8 @@", "-    return 1", "+    return (1"), "agents.py")

    assert result.error is not None
    assert result.error.startswith("The patched agents.py does not parse: line 8: ")
    assert "'(' was never closed" in result.error
    assert "\n        return (1\n" in result.error


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ("--- a/tools.py\n+++ b/tools.py\n@@ @@\n-x\n+y\n", "'tools.py'"),
        ("--- a/../agents.py\n+++ b/../agents.py\n@@ @@\n-x\n+y\n", "outside the project"),
        ("--- /etc/agents.py\n+++ /etc/agents.py\n@@ @@\n-x\n+y\n", "absolute path"),
        ("--- /dev/null\n+++ b/agents.py\n@@ -0,0 +1 @@\n+x = 1\n", "creates or deletes"),
        ("--- a/agents.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n", "creates or deletes"),
        ("diff --git a/agents.py b/main.py\nrename from agents.py\n", "'main.py'"),
        ("diff --git a/agents.py b/agents.py\nnew file mode 100644\n", "creates, deletes"),
        ("Here is my change.", "No diff found"),
        (HEADERS + "@@ -1 +1 @@\n from agents import Agent\n", "no hunk that changes"),
        (
            # a second section without a/ b/ prefixes, right after a hunk
            HEADERS
            + hunk("@@ @@", "-    return 1", "+    return 2")
            + "--- tools.py\n+++ tools.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n",
            "'tools.py'",
        ),
    ],
    ids=["other-file", "parent", "absolute", "create", "delete", "rename", "new-file",
         "prose-only", "no-change", "second-file-no-prefix"],
)  # fmt: skip
def test_refusals(patch: str, expected: str) -> None:
    result = apply_patch(CODE, patch, "agents.py")

    assert not result.ok
    assert expected in (result.error or "")


def test_a_context_line_that_lost_its_space_is_checked_as_context_not_skipped() -> None:
    patch = hunk("@@ -7,2 +7,2 @@", "def helper():", "-    return 1", "+    return 2")

    result = apply_patch(CODE, HEADERS + patch, "agents.py")

    assert result.code == CODE.replace("return 1", "return 2")
    assert "had lines without their leading space:\n    |def helper():" in result.notes[0]


def test_prose_inside_a_hunk_is_refused_naming_the_line() -> None:
    patch = hunk("@@ -7,2 +7,2 @@", "Then change helper:", "-    return 1", "+    return 2")

    result = apply_patch(CODE, HEADERS + patch, "agents.py")

    assert result.error is not None
    assert "does not match" in result.error
    assert "The line\n    |Then change helper:\nhas no leading ' ', '-' or '+'" in result.error


def test_overlapping_hunks_are_refused() -> None:
    patch = (
        HEADERS
        + hunk("@@ @@", " def helper():", "-    return 1", "+    return 2")
        + hunk("@@ @@", "-def helper():", "+def helper2():", "     return 1")
    )

    result = apply_patch(CODE, patch, "agents.py")

    assert result.error is not None
    assert result.error.startswith("Hunks 1 and 2 overlap in agents.py")


# --- What is accepted, and how --------------------------------------------------------


def test_methods_are_reported() -> None:
    exact = unified_diff(CODE, CODE.replace("return 1", "return 2"), "agents.py")
    assert apply_patch(CODE, exact, "agents.py").method == "exact"
    moved = exact.replace("@@ -5,4 +5,4 @@", "@@ -1,4 +1,4 @@")
    assert moved != exact
    assert apply_patch(CODE, moved, "agents.py").method == "relocated"
    spaced = moved.replace(" def helper():", " def helper():   ")
    result = apply_patch(CODE, spaced, "agents.py")
    assert (result.method, result.code) == ("whitespace", CODE.replace("return 1", "return 2"))


def test_whitespace_tolerance_keeps_the_files_context_and_the_added_lines_verbatim() -> None:
    code = "x = 1\n\n\ndef helper():  \n    return 1\n"
    patch = hunk("@@ @@", " def  helper():", "-\treturn 1", "+    return 2  # two")

    result = apply_patch(code, patch, "agents.py")

    assert result.code == "x = 1\n\n\ndef helper():  \n    return 2  # two\n"
    assert result.method == "whitespace"


def test_v4a_patch_goes_through_the_sdk() -> None:
    v4a = (
        "Sure:\n*** Begin Patch\n*** Update File: agents.py\n"
        "@@ def helper():\n-    return 1\n+    return 2\n*** End Patch\nDone."
    )

    result = apply_patch(CODE, v4a, "agents.py")

    assert (result.ok, result.method) == (True, "v4a")
    assert result.code == CODE.replace("return 1", "return 2")


@pytest.mark.parametrize(
    ("v4a", "expected"),
    [
        ("*** Update File: agents.py\n@@\n-    return 9\n+    return 2\n", "does not match"),
        ("*** Update File: ../agents.py\n@@\n-    return 1\n+    return 2\n", "outside"),
        ("*** Update File: agents.py\n*** Move to: main.py\n@@\n-    return 1\n", "moves"),
        ("*** Delete File: agents.py\n", "delete file"),
        ("*** Update File: agents.py\n@@\n-    return 1\n+    return (\n", "does not parse"),
    ],
    ids=["context", "parent", "move", "delete", "syntax"],
)
def test_v4a_refusals(v4a: str, expected: str) -> None:
    result = apply_patch(CODE, f"*** Begin Patch\n{v4a}*** End Patch\n", "agents.py")

    assert not result.ok
    assert expected in (result.error or "")


def test_the_same_hunk_twice_is_applied_once() -> None:
    change = hunk("@@ -7,2 +7,2 @@", " def helper():", "-    return 1", "+    return 2")

    result = apply_patch(CODE, HEADERS + change + change.replace("-7,2", "-3,2"), "agents.py")

    assert result.code == CODE.replace("return 1", "return 2")


def test_identical_hunks_at_two_numbered_places_both_apply() -> None:
    line = '-    instructions="Help.",'
    code = 'from agents import Agent\n\na = Agent(\n    name="A",\n    instructions="Help.",\n)\n'
    code += 'b = Agent(\n    name="B",\n    instructions="Help.",\n)\n'
    change = ("@@ -5,2 +5,2 @@", line, '+    instructions="Help more.",', " )")

    result = apply_patch(code, hunk(*change) + hunk("@@ -9,2 +9,2 @@", *change[1:]), "agents.py")

    assert result.code == code.replace("Help.", "Help more.")


def test_diff_split_over_fences_with_prose_between() -> None:
    patch = (
        "First the import:\n```diff\n"
        + HEADERS
        + hunk("@@ -1 +1 @@", "-from agents import Agent", "+from agents import Agent, Runner")
        + "```\nThen the helper:\n```diff\n"
        + hunk("@@ -7,2 +7,2 @@", " def helper():", "-    return 1", "+    return 2")
        + "```\n"
    )
    expected = CODE.replace("return 1", "return 2").replace("Agent\n", "Agent, Runner\n", 1)

    assert apply_patch(CODE, patch, "agents.py").code == expected
    unfenced = re.sub(r"```(diff)?\n", "", patch)
    assert apply_patch(CODE, unfenced, "agents.py").code == expected


def test_hunk_lines_without_any_header_are_one_bare_hunk() -> None:
    result = apply_patch(CODE, " def helper():\n-    return 1\n+    return 2\n", "agents.py")
    assert result.error is not None  # no `---`/`@@` at all: not recognisable as a diff

    result = apply_patch(CODE, HEADERS + " def helper():\n-    return 1\n+    return 2\n", "x")
    assert result.error is not None and "'agents.py'" in result.error

    result = apply_patch(
        CODE, HEADERS + " def helper():\n-    return 1\n+    return 2\n", "agents.py"
    )
    assert result.code == CODE.replace("return 1", "return 2")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("@@ -0,0 +1,2 @@", "# top\n# two\n" + CODE),
        ("@@ -8,0 +9,2 @@", CODE + "# top\n# two\n"),
    ],
    ids=["start", "end"],
)
def test_additions_without_context_go_only_at_the_start_or_end(header: str, expected: str) -> None:
    assert apply_patch(CODE, hunk(header, "+# top", "+# two"), "agents.py").code == expected


def test_an_addition_without_context_in_the_middle_is_refused() -> None:
    result = apply_patch(CODE, hunk("@@ -5,0 +6,1 @@", "+# here?"), "agents.py")

    assert result.error is not None
    assert result.error.startswith("Hunk 1 of 1 only adds lines and has no context lines")


def test_crlf_file_and_patch_keep_crlf() -> None:
    code = CODE.replace("\n", "\r\n")
    patch = hunk("@@ -7,2 +7,2 @@", " def helper():", "-    return 1", "+    return 2")

    result = apply_patch(code, patch.replace("\n", "\r\n"), "agents.py")

    assert result.code == code.replace("return 1", "return 2")


@pytest.mark.parametrize(
    ("original", "marker", "expected"),
    [
        (CODE.rstrip("\n"), "", CODE.replace("return 1", "return 2")),
        (CODE.rstrip("\n"), NO_NEWLINE, CODE.replace("return 1", "return 2").rstrip("\n")),
        (CODE, NO_NEWLINE, CODE.replace("return 1", "return 2").rstrip("\n")),
    ],
    ids=["marker-forgotten-adds-newline", "marker-kept", "marker-added"],
)  # fmt: skip
def test_final_newline(original: str, marker: str, expected: str) -> None:
    patch = hunk("@@ -7,2 +7,2 @@", " def helper():", "-    return 1", "+    return 2") + marker

    assert apply_patch(original, patch, "agents.py").code == expected


# --- Never the wrong place: generated edits, damaged as models damage them ------------


def random_edit(rng: random.Random, code: str) -> str:
    """`code` with one to three lines inserted, replaced or deleted (kept parseable).

    Blank lines, copies of existing lines and lone `)` make places that look alike.
    """
    while True:
        lines = code.splitlines(keepends=True)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(lines))
            kind = rng.random()
            if kind < 0.25:
                lines.insert(at, "\n")
            elif kind < 0.5:
                lines.insert(at, rng.choice(lines))
            elif kind < 0.7 and lines[at].strip() in ("", ")", "@function_tool"):
                del lines[at]
            elif kind < 0.85 and lines[at].strip():
                lines[at] = lines[at].rstrip("\n") + "  # changed\n"
            else:
                lines.insert(at, "# note\n")
        edited = "".join(lines)
        if edited != code and not _fails_to_parse(edited):
            return edited


def _fails_to_parse(code: str) -> bool:
    try:
        ast.parse(code.removeprefix("\ufeff"))  # a BOM is allowed in a source file
    except SyntaxError:
        return True
    return False


def damage(rng: random.Random, diff: str) -> str:
    """The imperfections models make: headers, order, context, whitespace, fences."""
    head, *hunks = re.split(r"(?m)^(?=@@)", diff)
    head = rng.choice([head, "--- a/agents.py\n+++ b/agents.py\n", ""])
    damaged = []
    for text in hunks:
        header, *body = text.rstrip("\n").split("\n")
        header = rng.choice(
            [header, "@@ @@", re.sub(r"\d+", lambda m: str(int(m[0]) + rng.randint(-9, 9)), header)]
        )
        if rng.random() < 0.3:  # less context, down to none
            first = next(i for i, line in enumerate(body) if line[:1] in ("-", "+"))
            last = max(i for i, line in enumerate(body) if line[:1] in ("-", "+"))
            keep = rng.randint(0, 2)
            body = body[max(0, first - keep) : last + 1 + keep]
        if rng.random() < 0.3:
            body = [line + "  " if line.startswith(" ") else line for line in body]
        if rng.random() < 0.3:
            body = ["" if line == " " else line for line in body]
        damaged.append("\n".join([header, *body]) + "\n")
    if rng.random() < 0.3:
        rng.shuffle(damaged)
    if damaged and rng.random() < 0.2:
        damaged.append(damaged[0])
    patch = head + "".join(damaged)
    return rng.choice(
        [patch, f"Here it is:\n```diff\n{patch}```\nDone.", patch.replace("\n", "\r\n")]
    )


@pytest.mark.parametrize("seed", range(4))
def test_damaged_diffs_apply_correctly_or_are_refused_never_misplaced(seed: int) -> None:
    rng = random.Random(seed)
    applied = 0
    for _ in range(60):
        original = rng.choice(WORKFLOWS)
        edited = random_edit(rng, original)
        diff = unified_diff(original, edited, "agents.py")
        patch = damage(rng, diff)

        result = apply_patch(original, patch, "agents.py")

        if result.ok:
            # Without its "\ No newline at end of file" a hunk at the end adds the newline.
            marker = NO_NEWLINE.strip()
            lost_marker = marker in diff and marker not in patch
            assert result.code in (edited, edited + "\n" * lost_marker), f"misplaced:\n{patch}"
            applied += 1
        else:
            # Refused only for lack of certainty: a misplaced hunk would be "does not parse".
            assert result.error and re.search(
                r"matches \d+ places|only adds lines|overlap|does not match", result.error
            ), result.error
    assert applied >= 40  # most damaged diffs still apply


def test_garbage_never_raises() -> None:
    rng = random.Random(7)
    cases = CASES
    for _ in range(400):
        case = rng.choice(cases)
        raw = (case / "patch.diff").read_bytes().decode("utf-8", "surrogatepass")
        lines = raw.splitlines(keepends=True)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(lines) + 1)
            action = rng.randrange(5)
            if action == 4 and lines:  # a character no file can hold, or a surrogate pair
                line = rng.randrange(len(lines))
                column = rng.randrange(len(lines[line]) + 1)
                bad = rng.choice(["\ud800", "\udfff", "\x00", "\ud83d\ude00"])
                lines[line] = lines[line][:column] + bad + lines[line][column:]
            elif action == 0 and lines:
                del lines[min(at, len(lines) - 1)]
            elif action == 1:
                lines.insert(
                    at, rng.choice(["@@\n", "\\\n", "--- \n", "+++ b\n", "```\n", "*** \n"])
                )
            elif action == 2 and lines:
                lines.insert(at, rng.choice(lines))
            else:
                lines = lines[:at]
        original = (case / "original.py").read_text()

        result = apply_patch(original, "".join(lines), "agents.py")

        assert result.ok == (result.code is not None) == (result.error is None)
        if result.ok:
            assert result.code is not None and not _fails_to_parse(result.code)


# --- Issue 15: V4A placed like hunks, idle hunks, final newline, dropped lines ----------

TWINS = """\
from agents import Agent, function_tool


@function_tool
def lookup_order(order_id: str) -> str:
    return order_id


orders = Agent(
    name="Orders",
    instructions="Answer questions about orders.",
    tools=[lookup_order],
    model="gpt-4o-mini",
)

refunds = Agent(
    name="Refunds",
    instructions="Handle refunds.",
    tools=[lookup_order],
    model="gpt-4o-mini",
)
"""
TWIN_CHUNK = '     tools=[lookup_order],\n-    model="gpt-4o-mini",\n+    model="gpt-4o",\n )\n'


def v4a(*chunks: str) -> str:
    return "*** Begin Patch\n*** Update File: agents.py\n" + "".join(chunks) + "*** End Patch\n"


def test_v4a_chunk_that_fits_two_places_is_refused_with_both() -> None:
    result = apply_patch(TWINS, v4a("@@\n" + TWIN_CHUNK), "agents.py")

    assert result.error is not None
    assert result.error.startswith("Chunk 1 of 1 matches 2 places in agents.py (lines 12, 19)")
    assert '    |    model="gpt-4o-mini",' in result.error
    assert "`@@ <line>` anchor" in result.error


@pytest.mark.parametrize(
    ("anchor", "changed"), [("refunds = Agent(", "Refunds"), ("orders = Agent(", "Orders")]
)
def test_v4a_anchor_chooses_the_agent_whose_block_holds_the_chunk(
    anchor: str, changed: str
) -> None:
    result = apply_patch(TWINS, v4a(f"@@ {anchor}\n" + TWIN_CHUNK), "agents.py")

    before, _, after = TWINS.partition(f'name="{changed}"')
    expected = (
        before + f'name="{changed}"' + after.replace('"gpt-4o-mini"', '"gpt-4o"', 1)
        if changed == "Orders"
        else TWINS[::-1].replace('"inim-o4-tpg"', '"o4-tpg"', 1)[::-1]
    )
    assert (result.error, result.code, result.method) == (None, expected, "v4a")


def test_v4a_anchor_that_occurs_twice_is_refused_when_both_blocks_fit() -> None:
    chunk = '@@     tools=[lookup_order],\n-    model="gpt-4o-mini",\n+    model="gpt-4o",\n )\n'

    result = apply_patch(TWINS, v4a(chunk), "agents.py")

    assert result.error is not None
    assert "Chunk 1 of 1 matches 2 places in agents.py within its anchors" in result.error


def test_v4a_anchor_not_in_the_file_is_named() -> None:
    result = apply_patch(TWINS, v4a("@@ billing = Agent(\n" + TWIN_CHUNK), "agents.py")

    assert result.error is not None
    assert "Chunk 1 of 1's anchor `@@ billing = Agent(` is not a line of agents.py" in result.error


def test_v4a_pure_addition_goes_right_after_a_unique_anchor() -> None:
    chunk = '@@ def lookup_order(order_id: str) -> str:\n+    """The order\'s id, checked."""\n'

    result = apply_patch(TWINS, v4a(chunk), "agents.py")

    assert result.code == TWINS.replace(
        "-> str:\n", '-> str:\n    """The order\'s id, checked."""\n'
    )


def test_v4a_end_of_file_chunk_must_end_the_file() -> None:
    chunk = '@@\n-    model="gpt-4o-mini",\n+    model="gpt-4o",\n )\n*** End of File\n'

    result = apply_patch(TWINS, v4a(chunk), "agents.py")

    assert result.code == TWINS[::-1].replace('"inim-o4-tpg"', '"o4-tpg"', 1)[::-1]


def test_v4a_additions_marked_end_of_file_go_after_the_last_line() -> None:
    result = apply_patch(TWINS, v4a("@@\n+print(orders)\n*** End of File\n"), "agents.py")

    assert result.code == TWINS + "print(orders)\n"


def test_v4a_chunks_in_any_order_each_placed_once() -> None:
    first = '@@ orders = Agent(\n-    model="gpt-4o-mini",\n+    model="gpt-4o",\n'
    second = (
        '@@ refunds = Agent(\n-    instructions="Handle refunds.",\n+    instructions="Refunds.",\n'
    )

    result = apply_patch(TWINS, v4a(second, first), "agents.py")

    expected = TWINS.replace('"gpt-4o-mini"', '"gpt-4o"', 1).replace("Handle refunds.", "Refunds.")
    assert result.code == expected


@pytest.mark.parametrize(
    "patch",
    [
        HEADERS
        + hunk("@@ -7,2 +7,2 @@", " def helper():", "-    return 1", "+    return 2")
        + hunk("@@ -3,1 +3,1 @@", ' first = Agent(name="First", instructions="Help.")'),
        v4a("@@ def helper():\n-    return 1\n+    return 2\n", "@@\n from agents import Agent\n"),
    ],
    ids=["unified", "v4a"],
)
def test_a_hunk_that_changes_nothing_refuses_the_whole_patch(patch: str) -> None:
    result = apply_patch(CODE, patch, "agents.py")

    assert (result.ok, result.code) == (False, None)
    assert result.error is not None
    assert re.match(
        r"(Hunk|Chunk) 2 of 2 has no '\+' or '-' line, so it changes nothing", result.error
    )
    assert "Nothing was applied." in result.error


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        # the last line is context: the file keeps its missing newline, marker or not
        (hunk("@@ -7,2 +7,2 @@", "-def helper():", "+def helper2():", "     return 1"), False),
        (hunk("@@ -7,2 +7,2 @@", "-def helper():", "+def helper2():", "     return 1")
         + NO_NEWLINE, False),
        # the patch appends after the last line: the marker decides
        (hunk("@@ -8 +8,2 @@", "     return 1", "+    # done"), True),
        (hunk("@@ -8 +8,2 @@", "     return 1", "+    # done") + NO_NEWLINE, False),
    ],
    ids=["context-last", "context-last-marker", "appended", "appended-marker"],
)  # fmt: skip
def test_a_file_without_final_newline_keeps_it_unless_the_last_line_changes(
    patch: str, expected: bool
) -> None:
    original = CODE.rstrip("\n")

    result = apply_patch(original, patch, "agents.py")

    assert result.code is not None
    assert result.code.endswith("\n") == expected
    assert result.code.rstrip("\n").startswith(original.replace("helper()", "helper2()")[:60])


def test_a_file_with_final_newline_keeps_it_when_a_marker_follows_context() -> None:
    patch = hunk("@@ -7,2 +7,2 @@", "-def helper():", "+def helper2():", "     return 1")

    result = apply_patch(CODE, patch + NO_NEWLINE, "agents.py")

    assert result.code == CODE.replace("helper()", "helper2()")


def test_v4a_keeps_a_missing_final_newline() -> None:
    result = apply_patch(CODE.rstrip("\n"), v4a("@@\n-    return 1\n+    return 2\n"), "agents.py")

    assert result.code == CODE.replace("return 1", "return 2").rstrip("\n")


def test_a_hunk_that_left_out_a_context_line_is_placed_and_says_so() -> None:
    patch = HEADERS + hunk(
        "@@ -16,5 +16,5 @@",
        " refunds = Agent(",
        '     name="Refunds",',
        # `instructions="Handle refunds.",` left out by the model
        "     tools=[lookup_order],",
        '-    model="gpt-4o-mini",',
        '+    model="gpt-4o",',
    )

    result = apply_patch(TWINS, patch, "agents.py")

    assert result.code == TWINS[::-1].replace('"inim-o4-tpg"', '"o4-tpg"', 1)[::-1]
    assert result.method == "dropped-context"
    assert len(result.notes) == 1
    assert result.notes[0].startswith("Hunk 1 of 1 left out line 18 of agents.py")
    assert '    |    instructions="Handle refunds.",' in result.notes[0]
    assert "assumed to be unchanged context and kept" in result.notes[0]


def test_a_left_out_line_is_never_assumed_where_the_placement_is_not_unique() -> None:
    patch = hunk("@@ @@", " )", "", "-refunds = Agent(", "+refunds_agent = Agent(")
    twins = TWINS + "\nrefunds = Agent(\n" + TWINS.split("refunds = Agent(\n")[1]
    assert apply_patch(twins, patch, "agents.py").ok is False  # fits two places exactly

    patch = hunk(
        "@@ @@",
        '     name="Refunds",',
        "     tools=[lookup_order],",
        '-    model="gpt-4o-mini",',
        '+    model="gpt-4o",',
    )
    result = apply_patch(twins, patch, "agents.py")

    assert result.error is not None
    assert "it would fit 2 places (lines 17, 24), so it cannot be placed" in result.error


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        # three lines left out: more than the two assumed at most
        (
            (
                " def lookup_order(order_id: str) -> str:",
                "     return order_id",
                '     name="Orders",',
                '-    instructions="Answer questions about orders.",',
                '+    instructions="Orders.",',
            ),
            "does not match",
        ),
        # added lines right after a context line, before the left-out line: order unknown
        ((' name="Refunds",', '+    # refunds only', "     tools=[lookup_order],",
          '     model="gpt-4o-mini",', " )"), "does not match"),
        # only two lines to place by: too few to assume anything
        ((' name="Refunds",', "-    tools=[lookup_order],", "+    tools=[],"), "does not match"),
    ],
    ids=["three-left-out", "insertion-next-to-gap", "too-few-lines"],
)  # fmt: skip
def test_left_out_lines_are_assumed_only_when_certain(lines: tuple[str, ...], why: str) -> None:
    body = [line if line[:1] in ("+", "-", " ") or not line else " " + line for line in lines]

    result = apply_patch(TWINS, HEADERS + hunk("@@ @@", *body), "agents.py")

    assert result.error is not None and why in result.error


@pytest.mark.parametrize(
    "lines",
    [
        # right after a replaced line: it might have been meant to be replaced too
        (" refunds = Agent(", '-    name="Refunds",', '+    name="Refund desk",',
         "     tools=[lookup_order],", '     model="gpt-4o-mini",'),
        # right after a removed line: it might have been meant to go too
        (" refunds = Agent(", '-    name="Refunds",', "     tools=[lookup_order],",
         '     model="gpt-4o-mini",'),
        # right before a removed line
        (" refunds = Agent(", '     name="Refunds",', "-    tools=[lookup_order],",
         '     model="gpt-4o-mini",', " )"),
    ],
    ids=["after-replaced", "after-removed", "before-removed"],
)  # fmt: skip
def test_a_left_out_line_next_to_a_removed_line_is_never_assumed(lines: tuple[str, ...]) -> None:
    result = apply_patch(TWINS, hunk("@@ @@", *lines), "agents.py")

    assert result.error is not None
    assert result.error.startswith("Hunk 1 of 1 does not match agents.py")


@pytest.mark.parametrize(
    ("character", "shown"),
    [
        ("\ud800", "lone surrogate U+D800"),
        ("\udfff", "lone surrogate U+DFFF"),
        ("\x00", "NUL U+0000"),
    ],
)
def test_an_invalid_character_is_refused_naming_its_line(character: str, shown: str) -> None:
    patch = HEADERS + hunk(
        "@@ -7,2 +7,2 @@", " def helper():", "-    return 1", f'+    return "{character}"'
    )

    result = apply_patch(CODE, patch, "agents.py")

    assert (result.ok, result.code) == (False, None)
    assert result.error == (
        f"The patch contains an invalid character ({shown}) at line 6, column 14. Write that "
        f"text with valid characters (or an escape such as \\u{ord(character):04x} inside a "
        "string) and submit the patch again."
    )
    v4a_result = apply_patch(CODE, v4a(f'@@\n-    return 1\n+    return "{character}"\n'), "x")
    assert v4a_result.error is not None and shown in v4a_result.error


def test_a_surrogate_pair_is_read_as_its_character() -> None:
    patch = hunk("@@ -7,2 +7,2 @@", " def helper():", "-    return 1", '+    return "\ud83d\ude00"')

    result = apply_patch(CODE, patch, "agents.py")

    assert result.code == CODE.replace("return 1", 'return "\U0001f600"')
    assert result.notes and "surrogate pairs" in result.notes[0]
    assert unified_diff(CODE, result.code, "agents.py")  # encodes: no surrogate left


def test_v4a_anchor_may_be_the_start_of_its_line() -> None:
    method = "    def f(self):\n        return 1\n"
    code = f"class Base:\n{method}\n\nclass Other:\n{method}"
    patch = v4a("@@ class Other\n@@     def f(self):\n-        return 1\n+        return 2\n")

    result = apply_patch(code, patch, "agents.py")

    assert result.code == code[::-1].replace("1 nruter", "2 nruter", 1)[::-1]


def drop_a_context_line(rng: random.Random, diff: str) -> str | None:
    """`diff` with one context line left out between two lines the hunk keeps."""
    lines = diff.split("\n")
    inner = [
        i
        for i in range(1, len(lines) - 1)
        if lines[i].startswith(" ")
        and lines[i - 1][:1] in (" ", "-")
        and lines[i + 1][:1] in (" ", "-")
    ]
    if not inner:
        return None
    del lines[rng.choice(inner)]
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(3))
def test_a_left_out_context_line_is_placed_right_or_refused_never_misplaced(seed: int) -> None:
    rng = random.Random(seed)
    placed = 0
    for _ in range(80):
        original = rng.choice(WORKFLOWS)
        edited = random_edit(rng, original)
        patch = drop_a_context_line(rng, unified_diff(original, edited, "agents.py"))
        if patch is None:
            continue
        if rng.random() < 0.5:
            patch = re.sub(r"(?m)^@@ .*$", "@@ @@", patch)

        result = apply_patch(original, patch, "agents.py")

        if result.ok:
            assert result.code == edited, f"misplaced:\n{patch}"
            placed += 1
        else:
            # "already in the file": the hunk's new side is in the file, so it may
            # have been applied before; a left-out line cannot be assumed then.
            assert result.error and re.search(
                r"matches \d+ places|does not match|overlap|already in the file", result.error
            ), result.error
    assert placed >= 20
