"""Apply a model's patch to the project's one file, or say exactly why not.

Models write imperfect diffs. This module accepts what it can place with certainty
and refuses the rest with an error a model can act on:

- code fences and prose around (or between) hunks are dropped; a diff split over
  several fenced blocks is joined;
- OpenAI's V4A format (`*** Begin Patch`) is applied with the SDK's `apply_diff`;
- each unified-diff hunk is placed by the first of:
  1. "exact": its header's line number, if its context and removed lines are there
     and nowhere else; when they also occur elsewhere, only a header that reads
     like one `diff` wrote (counts and new start consistent) may choose;
  2. "relocated": the one place in the file where those lines occur (header numbers
     and counts are ignored, hunks may come in any order, a hunk may lack its
     `@@` line);
  3. "whitespace": the same two steps comparing lines with their whitespace
     collapsed (context and removed lines only; added lines go in verbatim, and
     context lines keep the file's own text);
- a hunk whose lines match nowhere, or in more than one place, is refused, naming
  the hunk and quoting the lines it looked for; when nothing matches, the error
  also shows the nearest place and the first line that differs there;
- the same hunk twice (same lines, placed at the same line) is applied once;
  hunks that overlap otherwise are refused;
- a hunk with no context or removed lines is placed by its header only at the
  very start or end of the file; elsewhere it is refused as unplaceable.

The result must parse with `ast`. The stored diff is regenerated from the old and
new file as `git diff` writes it (`unified_diff`).
"""

import ast
import itertools
import posixpath
import re
from dataclasses import dataclass, field

import pygit2
from agents import apply_diff as apply_v4a
from pygit2.enums import DiffOption

HUNK_NUMBERS = re.compile(r"^@@+ ?-(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? ?@@")
FENCE = re.compile(r"^(```|~~~)")  # at column 0: a diff line never starts so
HEADER_LINES = ("index ", "new file mode", "deleted file mode", "similarity", "rename ")
QUOTE_LINES = 20
LOST_SPACE = ("", "")  # an empty line in a hunk, until we know whether it is context
METHOD_RANK = {"exact": 0, "relocated": 1, "whitespace": 2}


@dataclass(frozen=True)
class PatchResult:
    ok: bool
    code: str | None  # the whole new file when ok
    error: str | None  # when not ok: what is wrong, for the model to fix
    method: str  # "exact", "relocated", "whitespace", "v4a", or "" when refused

    @classmethod
    def refused(cls, error: str) -> "PatchResult":
        return cls(ok=False, code=None, error=error, method="")


class PatchError(ValueError):
    """The patch cannot be applied; the message says why, for the model."""


@dataclass
class Hunk:
    number: int  # 1-based, in the order of the diff
    old_start: int | None  # the header's old line number; None for a bare `@@ @@`
    header: tuple[int, int, int] | None = None  # the header's old count, new start, new count
    lines: list[tuple[str, str]] = field(default_factory=list)  # (" "|"-"|"+", text)
    old_ends_without_newline: bool = False
    new_ends_without_newline: bool = False

    @property
    def old(self) -> list[str]:
        """The context and removed lines: what the hunk looks for in the file."""
        return [text for kind, text in self.lines if kind != "+"]

    @property
    def new(self) -> list[str]:
        return [text for kind, text in self.lines if kind != "-"]

    def same_change(self, other: "Hunk") -> bool:
        return (self.lines, self.new_ends_without_newline) == (
            other.lines,
            other.new_ends_without_newline,
        )


@dataclass(frozen=True)
class Placement:
    hunk: Hunk
    start: int  # 0-based index in the file of the hunk's first old line
    method: str


# --- Entry point -------------------------------------------------------------------


def apply_patch(original: str, patch: str, filename: str) -> PatchResult:
    """The new file, or a refusal naming the problem (hunk, lines, parser message)."""
    try:
        text = extract_patch(patch)
        if text.startswith(("*** Begin Patch", "*** Update File:")):
            code, method = _apply_v4a(original, text, filename), "v4a"
        else:
            code, method = _apply_unified(original, text, filename)
    except PatchError as exc:
        return PatchResult.refused(str(exc))
    syntax_error = parse_error(code, filename)
    if syntax_error:
        return PatchResult.refused(syntax_error)
    return PatchResult(ok=True, code=code, error=None, method=method)


def parse_error(code: str, filename: str) -> str | None:
    """The parser's message, line number and line when `code` is not valid Python."""
    try:
        ast.parse(code, filename=filename)
    except SyntaxError as exc:
        lines = code.splitlines()
        lineno = exc.lineno or 0
        where = f"line {lineno}: " if lineno else ""
        quoted = f"\n    {lines[lineno - 1]}" if 0 < lineno <= len(lines) else ""
        return (
            f"The patched {filename} does not parse: {where}{exc.msg}.{quoted}\n"
            "The patch applied, but the result is not valid Python."
        )
    except (MemoryError, RecursionError):
        return f"The patched {filename} does not parse: it is nested too deeply."
    return None


# --- Finding the diff among prose ---------------------------------------------------


def extract_patch(patch: str) -> str:
    """The diff itself: newlines normalised, fences and the prose before it removed.

    Prose after or between hunks is left for the parser, which can tell it from hunk
    lines that lost their leading space.
    """
    lines = patch.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if any(line.strip() == "*** Begin Patch" for line in lines):
        start = next(i for i, line in enumerate(lines) if line.strip() == "*** Begin Patch")
        end = next(
            (i for i, line in enumerate(lines) if i > start and line.strip() == "*** End Patch"),
            len(lines) - 1,
        )
        return "\n".join(lines[start : end + 1]) + "\n"
    lines = _fenced_diff(lines) or lines
    first = next((i for i, line in enumerate(lines) if _starts_diff(line)), None)
    if first is None:
        raise PatchError(
            "No diff found: send a unified diff (`--- a/FILE`, `+++ b/FILE`, `@@ ... @@` hunks)."
        )
    return "\n".join(lines[first:]).rstrip("\n") + "\n"


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


# --- Paths --------------------------------------------------------------------------


def _check_path(raw: str, filename: str) -> None:
    path = raw.split("\t", 1)[0].strip()
    if path == "/dev/null":
        raise PatchError(
            f"The diff creates or deletes a file; only changes to {filename} are allowed."
        )
    if path.startswith(("a/", "b/")):
        path = path[2:]
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", path):
        raise PatchError(f"The diff names an absolute path ({raw.strip()}); use {filename}.")
    if ".." in path.replace("\\", "/").split("/"):
        raise PatchError(f"The diff names a path outside the project ({raw.strip()}).")
    if posixpath.normpath(path) != filename:
        raise PatchError(
            f"The diff changes {path!r}, but only {filename!r} may be changed: "
            f"use `--- a/{filename}` and `+++ b/{filename}`."
        )


# --- Parsing unified diffs ----------------------------------------------------------


def parse_unified(text: str, filename: str) -> list[Hunk]:
    """The hunks of a unified diff for `filename`; refuses any other file.

    Several `---`/`+++` sections are allowed as long as all name `filename`.
    """
    lines = text.split("\n")
    hunks: list[Hunk] = []
    current: Hunk | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if line.startswith("diff --git "):
            for path in line.split()[2:4]:
                _check_path(path, filename)
            current = None
        elif _is_file_header(line, following, current):
            _check_path(line[4:], filename)
            current = None
        elif line.startswith(HEADER_LINES):
            if line.startswith(("new file mode", "deleted file mode", "rename ")):
                raise PatchError(
                    f"The diff creates, deletes or renames a file; only edit {filename}."
                )
            current = None
        elif line.startswith("@@"):
            current = _hunk_from_header(line, len(hunks) + 1)
            hunks.append(current)
        elif line.startswith("\\"):  # "\ No newline at end of file"
            if current is not None and current.lines:
                kind = current.lines[-1][0]
                current.old_ends_without_newline |= kind in " -"
                current.new_ends_without_newline |= kind in " +"
        elif current is not None and line == "":
            current.lines.append(LOST_SPACE)  # a blank context line, or the hunk's end
        elif line[:1] in (" ", "-", "+"):
            if current is None:  # hunk lines without an @@ line: a hunk with no numbers
                current = Hunk(len(hunks) + 1, None)
                hunks.append(current)
            current.lines.append((line[0], line[1:]))
        elif line.strip():
            i = _skip_prose(lines, i, current)
            current = None
            continue
        i += 1
    for hunk in hunks:
        while hunk.lines and hunk.lines[-1] == LOST_SPACE:
            hunk.lines.pop()  # empty lines after a hunk end it; they are not context
        hunk.lines = [(" ", "") if line == LOST_SPACE else line for line in hunk.lines]
    hunks = [hunk for hunk in hunks if any(kind != " " for kind, _ in hunk.lines)]
    if not hunks:
        raise PatchError("The diff has no hunk that changes anything.")
    return hunks


def _hunk_from_header(line: str, number: int) -> Hunk:
    """A hunk from `@@ -a,b +c,d @@`; a bare or malformed header gives no numbers."""
    match = HUNK_NUMBERS.match(line)
    if not match:
        return Hunk(number, None)
    old_count, new_count = (1 if n is None else int(n) for n in match.group(2, 4))
    return Hunk(number, int(match.group(1)), (old_count, int(match.group(3)), new_count))


def trusted_headers(hunks: list[Hunk]) -> set[int]:
    """The numbers of the hunks whose header reads like one `diff` wrote.

    Its counts equal the hunk's line counts and its new start follows from the old
    start and the hunks before it. Only such a header may choose between places
    that look alike; a model's guessed numbers rarely pass.
    """
    trusted = set()
    shift = 0
    seen: dict[tuple[int, tuple[tuple[str, str], ...]], int] = {}
    for hunk in sorted((h for h in hunks if h.header), key=lambda h: h.old_start or 0):
        assert hunk.header is not None and hunk.old_start is not None
        key = (hunk.old_start, tuple(hunk.lines))
        if key in seen:  # the same hunk again: as trusted as its first copy
            if seen[key] in trusted:
                trusted.add(hunk.number)
            continue
        seen[key] = hunk.number
        old_count, new_start, new_count = hunk.header
        # An empty side's start names the line before the hunk, not its first line.
        expected = hunk.old_start + shift + (old_count == 0) - (new_count == 0)
        if (old_count, new_start, new_count) == (len(hunk.old), expected, len(hunk.new)):
            trusted.add(hunk.number)
        shift += len(hunk.new) - len(hunk.old)
    return trusted


def _starts_section(lines: list[str], j: int) -> bool:
    """A hunk header, a `diff --git` line, or a `---` line followed by `+++`."""
    line = lines[j]
    if line.startswith("--- "):
        return j + 1 < len(lines) and lines[j + 1].startswith("+++ ")
    return line.startswith(("@@", "diff --git "))


def _is_file_header(line: str, following: str, current: Hunk | None) -> bool:
    """`--- x` or `+++ x` naming a file; inside a hunk it may be a `-- x` removed line."""
    if not line.startswith(("--- ", "+++ ")):
        return False
    names_a_file = line[4:].startswith(("a/", "b/", "/dev/null"))
    pair = line.startswith("--- ") and following.startswith("+++ ")
    return current is None or names_a_file or pair


def _skip_prose(lines: list[str], i: int, current: Hunk | None) -> int:
    """The index of the next header after the prose at `i`, or the end.

    Prose that is followed by removed or added lines before the next header is
    refused: it is most likely a context line that lost its leading space, and
    skipping it would drop part of the change.
    """
    end = next((j for j in range(i + 1, len(lines)) if _starts_section(lines, j)), len(lines))
    if any(lines[j][:1] in ("-", "+") for j in range(i + 1, end)):
        where = f"Hunk {current.number}" if current is not None else "The diff"
        raise PatchError(
            f"{where} has a line that is not a diff line:\n    |{lines[i]}\n"
            "Every line of a hunk starts with ' ' (context), '-' (removed) or '+' (added); "
            "a context line needs its leading space. Put no text between hunks."
        )
    return end


# --- Placing hunks ------------------------------------------------------------------


def _collapse(line: str) -> str:
    return " ".join(line.split())


def _quote(lines: list[str]) -> str:
    shown = "\n".join(f"    |{line}" for line in lines[:QUOTE_LINES])
    more = len(lines) - QUOTE_LINES
    return shown + (f"\n    … ({more} more lines)" if more > 0 else "")


def place(lines: list[str], hunk: Hunk, total: int, filename: str, trusted: bool) -> Placement:
    """Where `hunk` goes in `lines`, or a PatchError saying why it cannot be placed.

    The header's line number is used when the hunk's lines are found there and
    nowhere else, or elsewhere too but the header is `trusted` (see `trusted_headers`).
    """
    old = hunk.old
    label = f"Hunk {hunk.number} of {total}"
    if not old:
        # Nothing to look for: only the start and the end of the file are certain.
        if hunk.old_start in (0, len(lines)) and trusted:
            return Placement(hunk, hunk.old_start or 0, "exact")
        raise PatchError(
            f"{label} only adds lines and has no context lines, so its place cannot be "
            "checked. Include the unchanged lines around the addition as context."
        )
    header = hunk.old_start - 1 if hunk.old_start else None
    for method, compare in (("relocated", _same), ("whitespace", _collapse)):
        file_lines, wanted = [compare(x) for x in lines], [compare(x) for x in old]
        found = [
            start
            for start in range(len(lines) - len(wanted) + 1)
            if file_lines[start : start + len(wanted)] == wanted
        ]
        if header in found and (len(found) == 1 or trusted):
            return Placement(hunk, header, "exact" if method == "relocated" else method)
        if len(found) == 1:
            return Placement(hunk, found[0], method)
        if len(found) > 1:
            where = ", ".join(str(start + 1) for start in found[:10])
            why = (
                " (its @@ header's numbers do not fit its lines and the hunks before it, "
                "so its line number cannot decide)"
                if header in found
                else ""
            )
            raise PatchError(
                f"{label} matches {len(found)} places in {filename} (lines {where}){why}; "
                f"it looks for these context and removed lines:\n{_quote(old)}\n"
                "Add context lines, or give the right line number in its @@ header, so "
                "that it matches one place only."
            )
    raise PatchError(
        f"{label} does not match {filename}: these context and removed lines are not in "
        f"it (header line {hunk.old_start if hunk.old_start is not None else 'none'}):\n"
        f"{_quote(old)}\n{_nearest(lines, old, filename)}"
        "Copy context and removed lines exactly from the file as shown."
    )


def _same(line: str) -> str:
    return line


def _nearest(lines: list[str], old: list[str], filename: str) -> str:
    """Where the hunk almost matches, and the first line that differs there."""
    file_lines, wanted = [_collapse(x) for x in lines], [_collapse(x) for x in old]
    best, best_score = -1, 0
    for start in range(len(lines) - len(old) + 1):
        score = sum(1 for j, line in enumerate(wanted) if line and file_lines[start + j] == line)
        if score > best_score:
            best, best_score = start, score
    if best < 0 or best_score * 2 < sum(1 for line in wanted if line):
        return ""
    offset = next((j for j, line in enumerate(wanted) if file_lines[best + j] != line), None)
    if offset is None:
        return ""
    return (
        f"Nearest place: line {best + offset + 1} of {filename} is\n"
        f"    |{lines[best + offset]}\nwhere the hunk expects\n    |{old[offset]}\n"
    )


# --- Applying unified diffs ---------------------------------------------------------


def _apply_unified(original: str, text: str, filename: str) -> tuple[str, str]:
    newline = "\r\n" if "\r\n" in original else "\n"
    source = original.replace("\r\n", "\n")
    ends_with_newline = source.endswith("\n") or source == ""
    lines = source.split("\n")
    if ends_with_newline:
        lines.pop()
    hunks = parse_unified(text, filename)
    trusted = trusted_headers(hunks)
    placements: list[Placement] = []
    for hunk in hunks:
        placed = place(lines, hunk, len(hunks), filename, hunk.number in trusted)
        if not any(p.start == placed.start and p.hunk.same_change(hunk) for p in placements):
            placements.append(placed)  # the same hunk twice is applied once
    placements.sort(key=lambda p: (p.start, len(p.hunk.old)))
    for before, after in itertools.pairwise(placements):
        if before.start + len(before.hunk.old) > after.start:
            first, second = sorted((before, after), key=lambda p: p.hunk.number)
            raise PatchError(
                f"Hunks {first.hunk.number} and {second.hunk.number} overlap in {filename} "
                f"(lines {_span(first)} and {_span(second)}): merge them into one hunk."
            )
    result: list[str] = []
    cursor = 0
    final_newline = ends_with_newline
    for placement in placements:
        hunk = placement.hunk
        result.extend(lines[cursor : placement.start])
        file_lines = iter(lines[placement.start : placement.start + len(hunk.old)])
        for kind, added in hunk.lines:
            if kind == " ":
                result.append(next(file_lines))  # the file's own context line
            elif kind == "-":
                next(file_lines)
            else:
                result.append(added)
        cursor = placement.start + len(hunk.old)
        if cursor == len(lines):
            # A hunk that reaches the end decides the final newline: kept unless its
            # new side says "\ No newline at end of file" (a model often forgets it).
            final_newline = not hunk.new_ends_without_newline
    result.extend(lines[cursor:])
    method = max((p.method for p in placements), key=METHOD_RANK.__getitem__)
    code = "\n".join(result) + ("\n" if final_newline and result else "")
    return code.replace("\n", newline), method


def _span(placement: Placement) -> str:
    return f"{placement.start + 1}-{placement.start + max(len(placement.hunk.old), 1)}"


# --- V4A ----------------------------------------------------------------------------


def _apply_v4a(original: str, text: str, filename: str) -> str:
    lines = text.split("\n")
    sections = [line for line in lines if line.startswith("*** ") and "File:" in line]
    if not sections:
        raise PatchError(f"The V4A patch has no `*** Update File: {filename}` section.")
    if len(sections) > 1:
        raise PatchError(f"The patch changes more than one file; only {filename} may be changed.")
    action, _, path = sections[0][4:].partition(":")
    if action.strip() != "Update File":
        raise PatchError(f"The patch tries to {action.strip().lower()}; only edit {filename}.")
    _check_path(path.strip(), filename)
    if any(line.startswith("*** Move to:") for line in lines):
        raise PatchError(f"The patch moves {filename}; only edit it in place.")
    body = []
    for line in lines[lines.index(sections[0]) + 1 :]:
        if line.startswith("*** ") and line != "*** End of File":
            break
        body.append(line)
    try:
        return apply_v4a(original, "\n".join(body) + "\n")
    except (ValueError, IndexError) as exc:
        # The SDK says e.g. "Invalid Context 12:\n<lines>", 12 being where it searched from.
        detail = re.sub(
            r"^Invalid (EOF )?Context (\d+):",
            lambda m: (
                f"these {'last ' if m[1] else ''}lines are not in it "
                f"(searched from line {int(m[2]) + 1}):"
            ),
            str(exc),
        )
        raise PatchError(
            f"The V4A patch does not match {filename}: {detail}\n"
            "Copy context and removed lines exactly from the file as shown."
        ) from None


# --- Writing diffs --------------------------------------------------------------------


def unified_diff(old: str, new: str, filename: str) -> str:
    """`new` against `old` exactly as `git diff` writes it; "" when they are equal.

    libgit2 (through pygit2) runs git's own xdiff with git's defaults: Myers with
    the indent heuristic, three lines of context, the `index` line, the enclosing
    "function" line after each `@@` and "\\ No newline at end of file" markers.
    """
    if old == new:
        return ""
    old_bytes, new_bytes = old.encode(), new.encode()
    patch = pygit2.Patch.create_from(
        old_bytes, new_bytes, filename, filename, flag=DiffOption.INDENT_HEURISTIC
    )
    # The patch points into both buffers, which stay referenced while its text is read.
    return patch.text or ""
