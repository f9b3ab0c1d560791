"""Kinds of model-written patches from issue 29: each applied exactly or refused with
a reason the VibeCoder can act on (placeholders, re-sent changes, two formats at once,
@@ headings, JSON strings, tabs, invisible characters, overlapping hunks)."""

import json
import random
from collections.abc import Callable

import pytest

from agents_app.patch_text import is_placeholder, json_patch, lost_body, reindent
from agents_app.patching.apply import apply_patch
from agents_app.patching.render import unified_diff
from agents_app.tests.patching.test_apply import WORKFLOWS, random_edit

HEADERS = "--- a/agents.py\n+++ b/agents.py\n"
CODE = """\
from agents import Agent

first = Agent(
    name="First",
    instructions="Help.",
    handoffs=[],
)

second = Agent(
    name="Second",
    instructions="Help.",
    handoffs=[],
)


def helper(value):
    total = value + 1
    return total
"""


def lines(*texts: str) -> str:
    return "".join(text + "\n" for text in texts)


@pytest.mark.parametrize(
    "line",
    [
        "# ... existing code ...",
        "    # ... existing handoffs unchanged ...",
        "// ... existing code ...",
        "# rest unchanged",
        "# (unchanged)",
        "# … unchanged …",
        "    pass  # ... existing logic ...",
        "    ...  # body unchanged",
        "# keep existing implementation",
        "# rest of the function stays the same",
        "# ...",
    ],
)
def test_placeholders_for_left_out_code_are_recognised(line: str) -> None:
    assert is_placeholder(line)


@pytest.mark.parametrize(
    "line",
    [
        "    # Reuse the existing session so the history carries over between messages.",
        "# Keep the checker cheap: it runs on every message.",
        "    ...",
        "    pass",
        "    ...  # TODO: call the real order service",
        "x = 1  # unchanged default",
        '    print("Loading...")',
        "# Leave the temperature unchanged: the refunds agent must answer the same way each time.",
    ],
)
def test_comments_and_stubs_that_are_code_are_not_placeholders(line: str) -> None:
    assert not is_placeholder(line)


def test_a_bare_ellipsis_is_a_placeholder_only_where_it_replaces_code() -> None:
    replaces = [(" ", "def f():"), ("-", "    return 1"), ("+", "    ...")]
    stub = [(" ", "class P(Protocol):"), ("+", "    def f(self) -> int:"), ("+", "        ...")]
    assert lost_body(replaces) == "    ..."
    assert lost_body(stub) is None


def test_json_patch_finds_the_one_escaped_diff() -> None:
    diff = HEADERS + "@@ -1 +1 @@\n-a\n+b\n"
    assert json_patch(json.dumps({"patch": diff})) == diff
    assert json_patch("Calling submit_patch(" + json.dumps({"diff": diff}) + ")") == diff
    assert json_patch(diff) is None  # a diff with real lines is read as it is
    two = json.dumps({"a": diff, "b": diff.replace("+b", "+c")})
    with pytest.raises(ValueError):
        json_patch(two)


def test_reindent_turns_steps_of_one_indentation_into_the_other() -> None:
    assert reindent("        x = 1", "\t", " ", (1, 4)) == "\t\tx = 1"
    assert reindent("\tx = 1", " ", "\t", (4, 1)) == "    x = 1"
    assert reindent("      x = 1", "\t", " ", (1, 4)) is None  # six spaces: depth unknown


# --- Placeholders ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "added",
    ["        # ... existing handoffs unchanged ...", "    ...  # body unchanged", "    ..."],
)
def test_a_patch_that_stands_a_placeholder_in_for_code_is_refused(added: str) -> None:
    patch = HEADERS + lines(
        "@@ -16,3 +16,2 @@",
        " def helper(value):",
        "-    total = value + 1",
        "-    return total",
        "+" + added,
    )

    result = apply_patch(CODE, patch, "agents.py")

    assert result.error is not None
    assert "reads as a placeholder for code left out" in result.error
    assert "Write the code out in full" in result.error


def test_a_v4a_chunk_with_a_placeholder_is_refused() -> None:
    patch = lines(
        "*** Begin Patch",
        "*** Update File: agents.py",
        "@@ def helper(value):",
        "-    total = value + 1",
        "-    return total",
        "+    # ... rest of the function unchanged ...",
        "*** End Patch",
    )
    result = apply_patch(CODE, patch, "agents.py")
    assert result.error is not None and "placeholder" in result.error


def test_a_context_placeholder_that_matches_nothing_is_named_in_the_refusal() -> None:
    patch = HEADERS + lines(
        "@@ -16,3 +16,3 @@",
        " def helper(value):",
        "     # ... existing code ...",
        "-    return total",
        "+    return total * 2",
    )
    result = apply_patch(CODE, patch, "agents.py")
    assert result.error is not None
    assert "reads as a placeholder for code left out" in result.error


# --- @@ headings ------------------------------------------------------------------------


def _second_handoffs(heading: str, start: int) -> str:
    return HEADERS + lines(
        f"@@ -{start},2 +{start},2 @@ {heading}",
        '     instructions="Help.",',
        "-    handoffs=[],",
        "+    handoffs=[first],",
    )


def test_a_heading_chooses_between_identical_places() -> None:
    result = apply_patch(CODE, _second_handoffs("second = Agent(", 40), "agents.py")
    assert result.code == CODE.replace("handoffs=[],\n)\n\n\ndef", "handoffs=[first],\n)\n\n\ndef")


def test_a_heading_that_contradicts_a_trusted_line_number_is_refused() -> None:
    result = apply_patch(CODE, _second_handoffs("second = Agent(", 5), "agents.py")
    assert result.error is not None
    assert "its heading `second = Agent(` names another place" in result.error


def test_a_heading_that_is_no_line_of_the_file_is_ignored() -> None:
    result = apply_patch(CODE, _second_handoffs("def nowhere():", 11), "agents.py")
    assert result.code == CODE.replace("handoffs=[],\n)\n\n\ndef", "handoffs=[first],\n)\n\n\ndef")


# --- Re-sent changes --------------------------------------------------------------------


def test_an_append_sent_twice_is_refused_the_second_time() -> None:
    appended = CODE + "\n\ndef other():\n    return 2\n"
    patch = unified_diff(CODE, appended, "agents.py")
    assert apply_patch(CODE, patch, "agents.py").code == appended

    again = apply_patch(appended, patch, "agents.py")

    assert again.error is not None
    assert "already in the file right where they would go" in again.error


def test_a_prepend_sent_twice_is_refused_the_second_time() -> None:
    prepended = "import os\n" + CODE
    patch = unified_diff(CODE, prepended, "agents.py")
    assert apply_patch(CODE, patch, "agents.py").code == prepended
    again = apply_patch(prepended, patch, "agents.py")
    assert again.error is not None and "already in the file" in again.error


@pytest.mark.parametrize("seed", range(3))
def test_any_patch_applied_a_second_time_is_refused(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        original = rng.choice(WORKFLOWS)
        edited = random_edit(rng, original)
        patch = unified_diff(original, edited, "agents.py")
        assert apply_patch(original, patch, "agents.py").code == edited

        again = apply_patch(edited, patch, "agents.py")

        assert not again.ok, f"applied twice:\n{patch}"


# --- Two formats, envelopes, JSON, tags ---------------------------------------------------

V4A_FIRST = lines(
    "*** Begin Patch",
    "*** Update File: agents.py",
    "@@ first = Agent(",
    '-    name="First",',
    '+    name="Front",',
    "*** End Patch",
)


def test_a_v4a_patch_and_a_unified_diff_that_agree_apply() -> None:
    new = CODE.replace('name="First"', 'name="Front"')
    result = apply_patch(CODE, V4A_FIRST + "\n" + unified_diff(CODE, new, "agents.py"), "agents.py")
    assert result.code == new
    assert any("all give the same file" in note for note in result.notes)


def test_a_v4a_patch_and_a_unified_diff_that_disagree_are_refused() -> None:
    other = unified_diff(CODE, CODE.replace('name="First"', 'name="Lead"'), "agents.py")
    result = apply_patch(CODE, V4A_FIRST + "\nor:\n```diff\n" + other + "```\n", "agents.py")
    assert result.error is not None
    assert "The message holds two patches" in result.error
    assert "Send one patch only" in result.error


def test_two_v4a_patches_that_disagree_are_refused() -> None:
    other = V4A_FIRST.replace('name="Front"', 'name="Lead"')
    result = apply_patch(CODE, V4A_FIRST + "\nBetter:\n" + other, "agents.py")
    assert result.error is not None
    assert "The message holds two patches" in result.error


def test_a_context_line_that_is_an_ellipsis_is_named_as_a_placeholder() -> None:
    patch = HEADERS + lines(
        "@@ @@", " def helper(value):", " ...", "-    return total", "+    return 0"
    )
    result = apply_patch(CODE, patch, "agents.py")
    assert result.error is not None and "reads as a placeholder" in result.error


def test_a_unified_diff_inside_a_v4a_envelope_is_read_as_unified() -> None:
    new = CODE.replace("value + 1", "value + 2")
    diff = unified_diff(CODE, new, "agents.py")
    envelope = f"*** Begin Patch\n*** Update File: agents.py\n{diff}*** End Patch\n"
    assert apply_patch(CODE, envelope, "agents.py").code == new
    elsewhere = envelope.replace("Update File: agents.py", "Update File: other.py")
    refused = apply_patch(CODE, elsewhere, "agents.py")
    assert refused.error is not None and "only 'agents.py' may be changed" in refused.error


@pytest.mark.parametrize(
    "wrap",
    [
        lambda diff: json.dumps({"patch": diff}),
        lambda diff: "```json\n" + json.dumps({"diff": diff}, indent=2) + "\n```",
        lambda diff: "<patch>\n" + diff + "</patch>\n",
        lambda diff: '<diff file="agents.py">\n' + diff + "</diff>",
        lambda diff: "\ufeff" + diff,
    ],
    ids=["json", "json-fence", "tag", "tag-attribute", "bom"],
)
def test_a_wrapped_patch_is_unwrapped(wrap: Callable[[str], str]) -> None:
    new = CODE.replace('"Help."', '"Help \\"fast\\"."', 1)
    assert apply_patch(CODE, wrap(unified_diff(CODE, new, "agents.py")), "agents.py").code == new


# --- Characters and indentation -------------------------------------------------------------


def test_a_file_with_a_bom_keeps_it_when_its_first_line_changes() -> None:
    new = CODE.replace("from agents import Agent", "from agents import Agent, Runner")
    result = apply_patch("\ufeff" + CODE, unified_diff(CODE, new, "agents.py"), "agents.py")
    assert result.code == "\ufeff" + new


@pytest.mark.parametrize(
    "spelled", ["add \u200bone", "add \u2060one", "add \ufeffone", "add\u00a0one", "add \u00a0one"]
)
def test_context_matches_a_file_line_holding_an_invisible_character(spelled: str) -> None:
    plain = CODE.replace("total = value + 1", "total = value + 1  # add one")
    code = plain.replace("add one", spelled)
    patch = unified_diff(plain, plain.replace("return total", "return total * 2"), "agents.py")
    result = apply_patch(code, patch, "agents.py")
    assert result.code == code.replace("return total", "return total * 2")


def test_spaces_added_to_a_tab_indented_file_become_tabs() -> None:
    tabbed = CODE.replace("    ", "\t")
    new = CODE.replace("    return total\n", "    if total:\n        return total\n    return 0\n")
    result = apply_patch(tabbed, unified_diff(CODE, new, "agents.py"), "agents.py")
    assert result.code == new.replace("    ", "\t")
    assert any("re-indented with tabs" in note for note in result.notes)


def test_tabs_added_to_a_space_indented_file_become_spaces() -> None:
    tabbed = CODE.replace("    ", "\t")
    new = tabbed.replace("\treturn total\n", "\tif total:\n\t\treturn total\n\treturn 0\n")
    result = apply_patch(CODE, unified_diff(tabbed, new, "agents.py"), "agents.py")
    assert result.code == new.replace("\t", "    ")


# --- Overlapping hunks ------------------------------------------------------------------------


def test_hunks_that_share_only_context_are_applied_as_one() -> None:
    one = CODE.replace('name="First"', 'name="Front"')
    two = CODE.replace('name="Second"', 'name="Back"')
    both = one.replace('name="Second"', 'name="Back"')
    second_hunk = unified_diff(CODE, two, "agents.py").split("@@", 1)[1]
    patch = unified_diff(CODE, one, "agents.py") + "@@" + second_hunk

    result = apply_patch(CODE, patch, "agents.py")

    assert result.code == both
    assert any("overlap on lines they both leave unchanged" in note for note in result.notes)


def test_overlapping_hunks_that_replace_the_same_line_differently_are_refused() -> None:
    one = unified_diff(CODE, CODE.replace("value + 1", "value + 2"), "agents.py")
    two = unified_diff(
        CODE, CODE.replace("value + 1\n", "value + 1\n    print(total)\n"), "agents.py"
    )
    removal_only = HEADERS + lines(
        "@@ -17,2 +17,1 @@", "     total = value + 1", "-    return total"
    )
    for second in (two, removal_only):
        patch = one + "@@" + second.split("@@", 1)[1]
        result = apply_patch(CODE, patch, "agents.py")
        assert result.error is not None and "overlap" in result.error, second


def test_a_file_that_mixes_line_endings_keeps_each_lines_own() -> None:
    mixed = CODE.replace("\n", "\r\n").replace("def helper(value):\r\n", "def helper(value):\n")
    new = CODE.replace('name="First"', 'name="Front"')

    result = apply_patch(mixed, unified_diff(CODE, new, "agents.py"), "agents.py")

    assert result.code == mixed.replace('name="First"', 'name="Front"')
    added = CODE.replace("    return total\n", "    print(total)\n    return total\n")
    result = apply_patch(mixed, unified_diff(CODE, added, "agents.py"), "agents.py")
    assert result.code == mixed.replace("    return total", "    print(total)\r\n    return total")
