"""Finding the patch in a model's message: JSON strings decoded, characters no file
can hold refused, fences, wrapper tags and prose dropped, several patches told apart."""

import re

from agents_app.patch_text import json_patch
from agents_app.patching.hunks import PatchError, check_path
from agents_app.patching.unified import HUNK_NUMBERS

FENCE = re.compile(r"^(```|~~~)")  # at column 0: a diff line never starts so
# A wrapper tag alone on its line (`<patch>`, `</diff>`, `<diff file="agents.py">`).
TAG_LINE = re.compile(r"^</?[A-Za-z][\w:-]*(\s+[\w:-]+=\"[^\"]*\")*\s*>\s*$")
# Characters no source file can hold: a lone surrogate cannot even be encoded.
INVALID_CHARACTER = re.compile("[\ud800-\udfff\x00]")
SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")


def unwrap_json(patch: str, notes: list[str]) -> str:
    """The patch inside a JSON string (`{"patch": "--- a/...\\n..."}`), else `patch`."""
    try:
        inner = json_patch(patch)
    except ValueError as exc:
        raise PatchError(f"The message holds {exc} as JSON strings; send one patch only.") from None
    if inner is None:
        return patch
    notes.append('The patch came as a JSON string; its escapes (\\n, \\", \\u...) were decoded.')
    return inner


def valid_text(patch: str, notes: list[str]) -> str:
    """`patch` with surrogate pairs joined; refuses a character no file can hold.

    A model's JSON may escape one character as two UTF-16 halves (`\\ud83d\\ude00`),
    which Python keeps as two code points: joined, they are the character meant. A
    lone half (or NUL) cannot be written to a file: the refusal names its line.
    """
    joined = SURROGATE_PAIR.sub(
        lambda pair: pair.group().encode("utf-16", "surrogatepass").decode("utf-16"), patch
    )
    if joined != patch:
        notes.append(
            "The patch wrote some characters as UTF-16 surrogate pairs; each pair was "
            "read as the one character it encodes."
        )
    bad = INVALID_CHARACTER.search(joined)
    if bad is None:
        return joined
    line = joined.count("\n", 0, bad.start()) + 1
    column = bad.start() - (joined.rfind("\n", 0, bad.start()) + 1) + 1
    code = ord(bad.group())
    what = "NUL" if code == 0 else "lone surrogate"
    raise PatchError(
        f"The patch contains an invalid character ({what} U+{code:04X}) at line {line}, "
        f"column {column}. Write that text with valid characters (or an escape such as "
        f"\\u{code:04x} inside a string) and submit the patch again."
    )


def extract_patches(patch: str) -> list[str]:
    """The diff itself: newlines normalised, fences and the prose before it removed.

    Prose after or between hunks is left for the parser, which can tell it from hunk
    lines that lost their leading space. A message with a V4A patch and a unified
    diff besides it gives both (in that order): `apply_patch` applies them only when
    they agree.
    """
    lines = patch.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = [line for line in lines if not TAG_LINE.match(line)]
    patches: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "*** Begin Patch":
            rest.append(lines[i])
            i += 1
            continue
        end = next(
            (j for j in range(i + 1, len(lines)) if lines[j].strip() == "*** End Patch"),
            len(lines) - 1,
        )
        patches.append("\n".join(lines[i : end + 1]) + "\n")
        i = end + 1
    if not patches:
        return [_unified_text(lines)]
    if _has_unified_diff(rest):
        patches.append(_unified_text(rest))
    return patches


def _unified_text(lines: list[str]) -> str:
    lines = _fenced_diff(lines) or lines
    first = next((i for i, line in enumerate(lines) if _starts_diff(line)), None)
    if first is None:
        raise PatchError(
            "No diff found: send a unified diff (`--- a/FILE`, `+++ b/FILE`, `@@ ... @@` hunks)."
        )
    return "\n".join(lines[first:]).rstrip("\n") + "\n"


def _has_unified_diff(lines: list[str]) -> bool:
    """A hunk header with numbers, or a `---` line followed by `+++`."""
    return any(
        HUNK_NUMBERS.match(line)
        or (line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "))
        for i, line in enumerate(lines)
    )


def unified_in_envelope(text: str, filename: str) -> str | None:
    """A unified diff a model wrapped in `*** Begin Patch` / `*** End Patch`, or None.

    Its `*** Update File:` line must name the file; the envelope lines are dropped
    and the rest is read as a unified diff (numbered `@@ -a,b +c,d @@` headers, or
    `---`/`+++` file lines), which a V4A reader would take for anchors.
    """
    lines = text.rstrip("\n").split("\n")
    if not _has_unified_diff(lines) and not any(line.startswith("diff --git ") for line in lines):
        return None
    kept = []
    for line in lines:
        if line.startswith("*** Update File:"):
            check_path(line.partition(":")[2].strip(), filename)
        elif line.startswith("*** ") and "File:" in line:
            raise PatchError(f"The patch creates, deletes or moves a file; only edit {filename}.")
        elif line.strip() not in ("*** Begin Patch", "*** End Patch", "*** End of File"):
            kept.append(line)
    return "\n".join(kept).rstrip("\n") + "\n"


def _starts_diff(line: str) -> bool:
    return line.startswith(("diff --git ", "--- ", "@@", "*** Update File:"))


def _fenced_diff(lines: list[str]) -> list[str] | None:
    """The fenced blocks that hold a diff, joined; None when no fenced block does."""
    blocks: list[list[str]] = []
    opened: int | None = None
    for i, line in enumerate(lines):
        if FENCE.match(line):
            if opened is None:
                opened = i
            else:
                blocks.append(lines[opened + 1 : i])
                opened = None
    if opened is not None:  # an unclosed fence: everything after it
        blocks.append(lines[opened + 1 :])
    diffs = [block for block in blocks if any(_starts_diff(line) for line in block)]
    return [line for block in diffs for line in block] if diffs else None
