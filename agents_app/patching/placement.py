"""Apply a model's patch to the project's one file, or say exactly why not.

Models write imperfect diffs. This module accepts what it can place with certainty
and refuses the rest with an error a model can act on:

- code fences, wrapper tags (`<patch>`) and prose around (or between) hunks are
  dropped; a diff split over several fenced blocks is joined; a patch sent as a JSON
  string is decoded first; a message holding several patches (V4A blocks, a unified
  diff besides) is applied only when all give the same file; a unified diff inside a
  V4A envelope is read as unified;
- a line inside a hunk with no marker, followed by changes, is a context line that
  lost its leading space: it is placed like any context line (it must match);
- an added line that stands for left-out code (`# ... existing code ...`, a bare
  `...` replacing removed lines; see `patch_text.is_placeholder`) refuses the patch:
  applied literally it would delete the code it stands for;
- OpenAI's V4A format (`*** Begin Patch`) is read with the SDK's V4A parser (its
  `_read_anchors`/`_read_section`, pinned with openai-agents), and each of its
  chunks is placed by the same code as a unified hunk (below), never at the first
  of several places that fit. Its `@@ <line>` anchors (the whole line, or its start)
  narrow the search to the block the anchor line opens, or, when nothing fits
  there, to what follows the anchor line; a chunk of additions only goes right
  after a unique anchor; `*** End of File` means the chunk ends the file. V4A
  cannot state a final newline, so the file's ending is kept;
- a patch with a character no file can hold (a lone surrogate, NUL) is refused,
  naming its line and column; a surrogate pair is read as the character it encodes;
- a hunk with no `+` or `-` line changes nothing: the whole patch is refused (the
  model most likely forgot a marker);
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
  4. "dropped-context": the same, allowing the file to hold up to two lines the hunk
     left out between two of its context lines (a model that skipped a line it did
     not mean to change). The placement must be unique, the hunk must have at least
     three non-blank context or removed lines, the left-out lines must sit between
     two context lines with nothing added between them (never next to a removed
     line), they are kept as they are, and the result's `notes` say so;
- among several places, a `@@ ... @@ heading` (the def, class or top-level line
  `git diff` writes there) keeps those inside the line it names; a heading that
  contradicts the header's own line number refuses the hunk;
- a hunk whose new lines are already where it would put them (a patch sent again)
  is refused as already applied;
- whitespace comparison also ignores zero-width characters and a BOM; added lines
  indented with spaces in a tab-indented file (or the reverse) are re-indented as
  the file is; a file's BOM is kept;
- a hunk whose lines match nowhere, or in more than one place, is refused, naming
  the hunk and quoting the lines it looked for; when nothing matches, the error
  also shows the nearest place and the first line that differs there;
- the same hunk twice (same lines, placed at the same line) is applied once;
  hunks that overlap only on lines both keep as context are applied as one; hunks
  that overlap otherwise are refused;
- a hunk with no context or removed lines is placed by its header only at the
  very start or end of the file; elsewhere it is refused as unplaceable.

The file keeps its final newline (or its lack of one) unless the patch changes its
last line; then the hunk's "\\ No newline at end of file" marker decides.

The result must parse with `ast`. The stored diff is regenerated from the old and
new file as `git diff` writes it (`unified_diff`).
"""

import ast
import dataclasses
import math
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pygit2
from agents.apply_diff import (
    END_PATCH,
    END_SECTION_MARKERS,
    ParserState,
    _is_done,
    _read_anchors,
    _read_section,
)
from pygit2.enums import DiffOption

from agents_app.patch_text import (
    INVISIBLE,
    file_indent_char,
    indent_of,
    is_placeholder,
    json_patch,
    lost_body,
    reindent,
    space_unit,
)

HUNK_NUMBERS = re.compile(r"^@@+ ?-(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? ?@@")
FENCE = re.compile(r"^(```|~~~)")  # at column 0: a diff line never starts so
# A wrapper tag alone on its line (`<patch>`, `</diff>`, `<diff file="agents.py">`).
TAG_LINE = re.compile(r"^</?[A-Za-z][\w:-]*(\s+[\w:-]+=\"[^\"]*\")*\s*>\s*$")
HEADER_LINES = ("index ", "new file mode", "deleted file mode", "similarity", "rename ")
QUOTE_LINES = 20
LOST_SPACE = ("", "")  # an empty line in a hunk, until we know whether it is context
METHOD_RANK = {"exact": 0, "relocated": 1, "whitespace": 2, "dropped-context": 3}
MAX_DROPPED = 2  # file lines a hunk may have left out between its own lines
MIN_LINES_FOR_DROPPED = 3  # non-blank context/removed lines needed to assume any
# Characters no source file can hold: a lone surrogate cannot even be encoded.
INVALID_CHARACTER = re.compile("[\ud800-\udfff\x00]")
SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")


@dataclass(frozen=True)
class PatchResult:
    ok: bool
    code: str | None  # the whole new file when ok
    error: str | None  # when not ok: what is wrong, for the model to fix
    method: str  # "exact", "relocated", "whitespace", "dropped-context", "v4a", "" refused
    # What the applier assumed to place the patch (e.g. lines a hunk left out, kept as
    # context), for the model to check; empty when nothing was assumed.
    notes: list[str] = field(default_factory=list)

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
    kind: str = "Hunk"  # "Chunk" for a V4A chunk, in messages
    anchors: list[str] = field(default_factory=list)  # V4A `@@ <line>` anchors, outermost first
    at_end: bool = False  # V4A `*** End of File`: the chunk's lines end the file
    heading: str = ""  # the text after a unified hunk's `@@ ... @@` (the enclosing def)
    unmarked: list[str] = field(default_factory=list)  # context lines without their space

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
    # Lines of the file the hunk left out, kept as context: {old line index j: how many
    # file lines come right before the hunk's j-th context or removed line}.
    dropped: dict[int, int] = field(default_factory=dict)

    @property
    def length(self) -> int:
        """How many lines of the file the hunk covers."""
        return len(self.hunk.old) + sum(self.dropped.values())


# --- Entry point -------------------------------------------------------------------


def apply_patch(original: str, patch: str, filename: str) -> PatchResult:
    """The new file, or a refusal naming the problem (hunk, lines, parser message)."""
    notes: list[str] = []
    try:
        patch = _unwrap_json(patch, notes)
        texts = extract_patches(valid_text(patch, notes))
        results = [_apply_one(original, text, filename) for text in texts]
    except PatchError as exc:
        return PatchResult.refused(str(exc))
    if len(results) > 1:
        return _one_of_two(results, texts, notes)
    result = results[0]
    if not result.ok:
        return result
    return PatchResult(
        ok=True, code=result.code, error=None, method=result.method, notes=notes + result.notes
    )


def _apply_one(original: str, text: str, filename: str) -> PatchResult:
    """One patch (V4A or unified) applied and parsed; a refusal is returned, not raised."""
    try:
        if text.startswith(("*** Begin Patch", "*** Update File:")):
            unified = _unified_in_envelope(text, filename)
            if unified is None:
                code, _, assumed = _apply_v4a(original, text, filename)
                method = "v4a"
            else:
                code, method, assumed = _apply_unified(original, unified, filename)
        else:
            code, method, assumed = _apply_unified(original, text, filename)
    except PatchError as exc:
        return PatchResult.refused(str(exc))
    syntax_error = parse_error(code, filename)
    if syntax_error:
        return PatchResult.refused(syntax_error)
    return PatchResult(ok=True, code=code, error=None, method=method, notes=assumed)


def _one_of_two(results: list[PatchResult], texts: list[str], notes: list[str]) -> PatchResult:
    """A message with several patches (V4A blocks, a unified diff besides): applied
    only when all of them give the same file.

    A model that offers the change twice ("or, as a unified diff: ...") may have
    written two different changes; applying one silently would pick for it.
    """
    names = [
        "a V4A patch (`*** Begin Patch`)"
        if text.startswith("*** Begin Patch")
        else "a unified diff (`--- a/`, `+++ b/`, `@@`)"
        for text in texts
    ]
    count = {2: "two", 3: "three"}.get(len(texts), str(len(texts)))
    held = f"{count} patches, " + " and ".join(names)
    first = results[0]
    if all(result.ok and result.code == first.code for result in results):
        return PatchResult(
            ok=True,
            code=first.code,
            error=None,
            method=first.method,
            notes=[*notes, *first.notes, f"The message held {held}; all give the same file."],
        )
    if all(result.ok for result in results):
        why = "they give different files"
    else:
        why = "; ".join(
            f"patch {number} is refused: {result.error}"
            for number, result in enumerate(results, 1)
            if not result.ok
        )
    return PatchResult.refused(
        f"The message holds {held}, and {why}. Nothing was applied. Send one patch only, "
        "in one format."
    )


def _unwrap_json(patch: str, notes: list[str]) -> str:
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


def parse_error(code: str, filename: str) -> str | None:
    """The parser's message, line number and line when `code` is not valid Python."""
    try:
        ast.parse(code.removeprefix("\ufeff"), filename=filename)  # a BOM is allowed
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


def _unified_in_envelope(text: str, filename: str) -> str | None:
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
            _check_path(line.partition(":")[2].strip(), filename)
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
        elif line.strip() and current is not None and _changes_follow(lines, i):
            # Removed or added lines follow before the next header: this is a context
            # line that lost its leading space. Placing checks it against the file.
            current.lines.append((" ", line))
            current.unmarked.append(line)
        elif line.strip():
            i = _skip_prose(lines, i, current)
            current = None
            continue
        i += 1
    for hunk in hunks:
        while hunk.lines and hunk.lines[-1] == LOST_SPACE:
            hunk.lines.pop()  # empty lines after a hunk end it; they are not context
        hunk.lines = [(" ", "") if line == LOST_SPACE else line for line in hunk.lines]
    # A header with no lines under it claims nothing; drop it and renumber.
    hunks = [hunk for hunk in hunks if hunk.lines]
    for number, hunk in enumerate(hunks, 1):
        hunk.number = number
    check_every_hunk_changes(hunks, "diff")
    return hunks


def check_every_hunk_changes(hunks: list[Hunk], what: str) -> None:
    """Refuse the patch when a hunk has no `+` or `-` line.

    Such a hunk is a model's mistake (an added line that lost its `+`, a change
    left out): applying the rest would store an edit without the change it meant.
    """
    idle = [hunk for hunk in hunks if all(kind == " " for kind, _ in hunk.lines)]
    if hunks and not idle:
        return
    if len(idle) == len(hunks):
        raise PatchError(
            f"The {what} has no hunk that changes anything: no line starts with '+' "
            "(added) or '-' (removed)."
        )
    hunk = idle[0]
    label = f"{hunk.kind} {hunk.number} of {len(hunks)}"
    shown = _quote([text for _, text in hunk.lines])
    raise PatchError(
        f"{label} has no '+' or '-' line, so it changes nothing:\n{shown}\n"
        "Mark each added line with '+' and each removed line with '-' (a line that lost "
        f"its marker reads as unchanged context), or leave the {hunk.kind.lower()} out. "
        "Nothing was applied."
    )


def _hunk_from_header(line: str, number: int) -> Hunk:
    """A hunk from `@@ -a,b +c,d @@ heading`; a bare or malformed header gives no numbers.

    The heading is the text after the header (`git diff` writes the enclosing def,
    class or top-level line there); a bare `@@ def name` is read as a heading, too.
    """
    match = HUNK_NUMBERS.match(line)
    if not match:
        bare = re.match(r"^@@+(?:\s*@@+)?(.*)$", line)
        heading = bare.group(1).strip() if bare else ""
        return Hunk(number, None, heading="" if "@@" in heading else heading)
    old_count, new_count = (1 if n is None else int(n) for n in match.group(2, 4))
    heading = line[match.end() :].lstrip("@").strip()
    header = (old_count, int(match.group(3)), new_count)
    return Hunk(number, int(match.group(1)), header, heading=heading)


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


def _changes_follow(lines: list[str], i: int) -> bool:
    """Whether a removed or added line follows line `i` before the next header."""
    end = next((j for j in range(i + 1, len(lines)) if _starts_section(lines, j)), len(lines))
    return any(lines[j][:1] in ("-", "+") for j in range(i + 1, end))


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
    """The line with whitespace runs made one space and invisible characters dropped."""
    return " ".join(line.translate(INVISIBLE).split())


def _quote(lines: list[str]) -> str:
    shown = "\n".join(f"    |{line}" for line in lines[:QUOTE_LINES])
    more = len(lines) - QUOTE_LINES
    return shown + (f"\n    … ({more} more lines)" if more > 0 else "")


def place(lines: list[str], hunk: Hunk, total: int, filename: str, trusted: bool) -> Placement:
    """Where `hunk` goes in `lines`, or a PatchError saying why it cannot be placed.

    The header's line number is used when the hunk's lines are found there and
    nowhere else, or elsewhere too but the header is `trusted` (see `trusted_headers`).
    A V4A chunk may only start inside the regions its anchors name, and a chunk
    marked `*** End of File` only where its lines end the file.
    """
    old = hunk.old
    label = f"{hunk.kind} {hunk.number} of {total}"
    if not old and hunk.at_end:
        return Placement(hunk, len(lines), "relocated")  # V4A: added after the last line
    if not old and hunk.anchors:
        # A V4A chunk that only adds lines goes right after its (innermost) anchor line.
        anchored = _anchor_regions(lines, hunk, label, filename)
        if len(anchored) == 1:
            return Placement(hunk, anchored[0][0] + 1, "relocated")
        where = ", ".join(str(start + 1) for start, _, _ in anchored[:10])
        raise PatchError(
            f"{label} only adds lines, after its anchor `@@ {hunk.anchors[-1]}`, which is at "
            f"{len(anchored)} places in {filename} (lines {where}). Add context lines, or "
            "anchors that occur once, so that it goes in one place only."
        )
    if not old:
        # Nothing to look for: only the start and the end of the file are certain.
        if hunk.old_start in (0, len(lines)) and trusted:
            return Placement(hunk, hunk.old_start or 0, "exact")
        raise PatchError(
            f"{label} only adds lines and has no context lines, so its place cannot be "
            "checked. Include the unchanged lines around the addition as context."
        )
    scopes = _allowed_starts(lines, hunk, label, filename)
    header = hunk.old_start - 1 if hunk.old_start else None
    for allowed in scopes:
        for method, compare in (("relocated", _same), ("whitespace", _collapse)):
            file_lines, wanted = [compare(x) for x in lines], [compare(x) for x in old]
            found = [
                start
                for start in range(len(lines) - len(wanted) + 1)
                if file_lines[start : start + len(wanted)] == wanted and start in allowed
            ]
            if len(found) > 1 and hunk.heading:
                found = _under_heading(lines, hunk, found, header, label, filename)
            if header in found and (len(found) == 1 or trusted):
                return Placement(hunk, header, "exact" if method == "relocated" else method)
            if len(found) == 1:
                return Placement(hunk, found[0], method)
            if len(found) > 1:
                raise _ambiguous(label, hunk, found, filename, header in found)
    # Not where it was written for: maybe it was applied already. Checked before the
    # left-out-lines step, which could take a line it added for one it left out.
    _refuse_if_already_applied(lines, hunk, label, filename)
    dropped: list[Placement] = []
    for allowed in scopes:
        dropped = dropped or _place_with_dropped_lines(lines, hunk, allowed)
    if len(dropped) == 1:
        return dropped[0]
    also = ""
    if dropped:
        where = ", ".join(str(p.start + 1) for p in dropped[:10])
        also = (
            f"With lines of the file assumed left out of the {hunk.kind.lower()}, it would "
            f"fit {len(dropped)} places (lines {where}), so it cannot be placed.\n"
        )
    raise PatchError(
        f"{label} does not match {filename}: these context and removed lines are not in "
        f"it{_where_looked(hunk)}:\n"
        f"{_quote(old)}\n{_nearest(lines, old, filename)}{also}{_hints(lines, hunk)}"
        "Copy context and removed lines exactly from the file as shown."
    )


def _hints(lines: list[str], hunk: Hunk) -> str:
    """Why a hunk that matches nowhere may not: a placeholder, lines without a marker."""
    in_file = {_collapse(line) for line in lines}
    hints = ""
    placeholders = [
        x
        for x in hunk.old
        if (is_placeholder(x) or x.strip() in ("...", "…")) and _collapse(x) not in in_file
    ]
    if placeholders:
        hints += (
            f"The line\n    |{placeholders[0]}\nreads as a placeholder for code left out; a "
            "diff cannot leave code out: copy the lines it stands for.\n"
        )
    unmarked = [x for x in hunk.unmarked if _collapse(x) not in in_file]
    if unmarked:
        hints += (
            f"The line\n    |{unmarked[0]}\nhas no leading ' ', '-' or '+', so it was read "
            "as a context line, and it is not a line of the file. Put no text inside a hunk.\n"
        )
    return hints


def _refuse_if_already_applied(lines: list[str], hunk: Hunk, label: str, filename: str) -> None:
    """Refuse a hunk whose old lines are missing because its new lines are there.

    A model that sends a patch again after it was applied gets told so, rather
    than that its context does not match.
    """
    new = [_collapse(x) for x in hunk.new]
    if not new or not any(new):
        return
    file_lines = [_collapse(x) for x in lines]
    at = [s for s in range(len(lines) - len(new) + 1) if file_lines[s : s + len(new)] == new]
    if at:
        raise PatchError(
            f"{label}'s change is already in the file: its new lines are at line "
            f"{at[0] + 1} of {filename}, and the lines it removes or replaces are not "
            "there. The patch (or this part of it) seems to have been applied already. "
            "Nothing was applied; check the current file and send only what is still missing."
        )


def _under_heading(
    lines: list[str], hunk: Hunk, found: list[int], header: int | None, label: str, filename: str
) -> list[int]:
    """The places among `found` inside the def, class or block the hunk's heading names.

    A heading that is no line of the file says nothing (models invent them). When
    the header's own line number is one of the places but not under the heading,
    the two disagree and the hunk is refused.
    """
    wanted = _collapse(hunk.heading)
    if not any(_collapse(line).startswith(wanted) for line in lines):
        return found
    under = [start for start in found if _is_under(lines, start, wanted)]
    where = ", ".join(str(start + 1) for start in found[:10])
    if header in found and header not in under:
        raise PatchError(
            f"{label} fits {len(found)} places in {filename} (lines {where}). Its @@ header's "
            f"line number points at line {header + 1}, but its heading `{hunk.heading}` names "
            "another place: the two disagree, so where it goes is unknown. Nothing was "
            "applied. Correct the line number or the heading, or add context lines that "
            "occur once."
        )
    if not under:
        raise PatchError(
            f"{label} fits {len(found)} places in {filename} (lines {where}), and none of them "
            f"is inside `{hunk.heading}` as its heading says. Nothing was applied. Correct the "
            "heading, or add context lines that occur once."
        )
    return under


def _is_under(lines: list[str], start: int, wanted: str) -> bool:
    """Whether a line that starts with `wanted` encloses (or is) the line at `start`.

    Enclosing lines are those less indented than everything from them to the hunk;
    the last top-level line before the hunk counts too (what `git diff` writes).
    """
    if _collapse(lines[start]).startswith(wanted):
        return True
    first = next((line for line in lines[start:] if line.strip()), "")
    depth = len(first) - len(first.lstrip())
    top_level_seen = False
    for i in range(start - 1, -1, -1):
        line = lines[i]
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent < depth or (not top_level_seen and re.match(r"[A-Za-z_$]", line)):
            if _collapse(line).startswith(wanted):
                return True
            depth = min(depth, indent)
            top_level_seen |= indent == 0
            if top_level_seen and depth == 0:
                return False
    return False


def _where_looked(hunk: Hunk) -> str:
    if hunk.kind == "Hunk":
        return f" (header line {hunk.old_start if hunk.old_start is not None else 'none'})"
    if hunk.anchors:
        return " (after " + ", then ".join(f"`@@ {anchor}`" for anchor in hunk.anchors) + ")"
    return " (at the end of the file)" if hunk.at_end else ""


def _ambiguous(
    label: str, hunk: Hunk, found: list[int], filename: str, header_among: bool
) -> PatchError:
    where = ", ".join(str(start + 1) for start in found[:10])
    why = (
        " (its @@ header's numbers do not fit its lines and the hunks before it, "
        "so its line number cannot decide)"
        if header_among
        else ""
    )
    if hunk.kind == "Hunk":
        fix = "Add context lines, or give the right line number in its @@ header,"
    else:
        fix = (
            "Add context lines, or an `@@ <line>` anchor naming the enclosing def, class "
            "or assignment (a line that occurs once in the file),"
        )
    within = " within its anchors" if hunk.anchors else ""
    return PatchError(
        f"{label} matches {len(found)} places in {filename}{within} (lines {where}){why}; "
        f"it looks for these context and removed lines:\n{_quote(hunk.old)}\n"
        f"{fix} so that it matches one place only."
    )


# --- V4A anchors: where a chunk may start ---------------------------------------------


def _allowed_starts(
    lines: list[str], hunk: Hunk, label: str, filename: str
) -> list[range | set[int]]:
    """Where `hunk` may start, in order of preference: anywhere; or, for a V4A chunk,
    at the end when it is marked `*** End of File`, else inside the block its anchor
    opens, then (only when nothing fits there) anywhere after its anchor line.
    """
    if hunk.at_end:
        end = len(lines) - len(hunk.old)
        return [range(end, end + 1) if end >= 0 else range(0)]
    if not hunk.anchors:
        return [range(len(lines))]
    regions = _anchor_regions(lines, hunk, label, filename)
    return [
        {i for start, block_end, _ in regions for i in range(start, block_end)},
        {i for start, _, after_end in regions for i in range(start, after_end)},
    ]


def _anchor_regions(
    lines: list[str], hunk: Hunk, label: str, filename: str
) -> list[tuple[int, int, int]]:
    """Where the innermost anchor is, each with the end of the block it opens and the
    end of the region it was found in (the outer anchor's block, or the file).

    Each anchor is looked for inside the regions of the one before it: a line equal
    to it, else equal with whitespace collapsed (as the SDK does), else a line that
    starts with it (`@@ class Router` for `class Router(Agent):`, as OpenAI's own
    V4A instructions write anchors). A chunk may start on the anchor line itself.
    """
    regions = [(0, len(lines))]
    narrowed: list[tuple[int, int, int]] = []
    for number, anchor in enumerate(hunk.anchors):
        narrowed = []
        for tier in range(3):
            for start, end in regions:
                for i in range(start, end):
                    if _is_anchor_line(lines[i], anchor, tier):
                        narrowed.append((i, _block_end(lines, i, end), end))
            if narrowed:
                break
        if not narrowed:
            raise PatchError(
                f"{label}'s anchor `@@ {anchor}` is not a line of {filename}"
                + (" after the anchors before it" if number else "")
                + ". An anchor is a line of the file (or its start), copied exactly "
                "(e.g. `@@ def lookup_order(order_id: str) -> str:`)."
            )
        # The next anchor is searched inside this one's block, after its line.
        regions = [(start + 1, block_end) for start, block_end, _ in narrowed]
    return narrowed


def _is_anchor_line(line: str, anchor: str, tier: int) -> bool:
    """Tier 0: the same line; 1: the same with whitespace collapsed; 2: starts with it."""
    if tier == 0:
        return line == anchor
    wanted = _collapse(anchor)
    if tier == 1:
        return _collapse(line) == wanted
    return bool(wanted) and _collapse(line).startswith(wanted)


def _block_end(lines: list[str], at: int, limit: int) -> int:
    """The end of the block the line at `at` opens, or `limit` when it opens none.

    A block is the lines after `at` indented deeper than it (blank lines included),
    plus closing brackets at its own indentation (the `)` of `x = Agent(`).
    """
    indent = len(lines[at]) - len(lines[at].lstrip())
    nxt = next((j for j in range(at + 1, limit) if lines[j].strip()), None)
    if nxt is None or len(lines[nxt]) - len(lines[nxt].lstrip()) <= indent:
        return limit  # not a block opener: the chunk just comes after the anchor line
    end = nxt
    while end < limit:
        line = lines[end]
        depth = len(line) - len(line.lstrip())
        if line.strip() and depth <= indent and not line.lstrip().startswith((")", "]", "}")):
            break
        end += 1
    return end


# --- Hunks that left out lines of the file ---------------------------------------------


def _place_with_dropped_lines(
    lines: list[str], hunk: Hunk, allowed: range | set[int]
) -> list[Placement]:
    """Every place where the hunk fits if the file has lines it left out.

    At most MAX_DROPPED lines, and only between two of the hunk's context lines with
    nothing added between them: there the left-out lines can only be context. Next
    to a removed line they might have been meant to go too, and next to added lines
    it is unknown on which side of them the additions go. Exact comparison first,
    then whitespace-collapsed, as for whole hunks.
    """
    old = hunk.old
    if sum(1 for line in old if line.strip()) < MIN_LINES_FOR_DROPPED or len(old) > 200:
        return []
    old_kinds = [kind for kind, _ in hunk.lines if kind != "+"]
    may_drop_before = [False] * len(old)  # may the file hold left-out lines before old[j]?
    j, added_since = -1, False
    for kind, _ in hunk.lines:
        if kind == "+":
            added_since = True
            continue
        j += 1
        if j > 0:
            may_drop_before[j] = not added_since and old_kinds[j - 1] == old_kinds[j] == " "
        added_since = False
    for compare in (_same, _collapse):
        file_lines, wanted = [compare(x) for x in lines], [compare(x) for x in old]
        found: dict[tuple[str, ...], Placement] = {}
        for start in range(len(lines)):
            if start in allowed and file_lines[start] == wanted[0]:
                for dropped in _alignments(file_lines, wanted, may_drop_before, start):
                    placed = Placement(hunk, start, "dropped-context", dropped)
                    # Alignments that differ only in which of two equal lines (say,
                    # two blank lines) was left out give the same file: one place.
                    after = lines[start + placed.length :]
                    key = (*lines[:start], *render(placed, lines), *after)
                    found.setdefault(key, placed)
        if found:
            return list(found.values())
    return []


def _alignments(
    file_lines: list[str], wanted: list[str], may_drop_before: list[bool], start: int
) -> list[dict[int, int]]:
    """The ways `wanted` matches from `start` with 1..MAX_DROPPED file lines skipped."""
    results: list[dict[int, int]] = []

    def extend(i: int, j: int, dropped: dict[int, int], left: int) -> None:
        if j == len(wanted):
            if dropped:
                results.append(dropped)
            return
        if i < len(file_lines) and file_lines[i] == wanted[j]:
            extend(i + 1, j + 1, dropped, left)
        if j > 0 and may_drop_before[j]:
            for skip in range(1, left + 1):
                if i + skip < len(file_lines) and file_lines[i + skip] == wanted[j]:
                    extend(i + skip + 1, j + 1, {**dropped, j: skip}, left - skip)

    extend(start + 1, 1, {}, MAX_DROPPED)
    return results


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


def _apply_unified(original: str, text: str, filename: str) -> tuple[str, str, list[str]]:
    return _apply_hunks(original, filename, lambda: parse_unified(text, filename), v4a=False)


def _apply_hunks(
    original: str, filename: str, parse: Callable[[], list[Hunk]], v4a: bool
) -> tuple[str, str, list[str]]:
    """The new file, the weakest placement method used, and what was assumed."""
    newline = "\r\n" if "\r\n" in original else "\n"
    bom = "\ufeff" if original.startswith("\ufeff") else ""  # kept, even if line 1 changes
    # A file that mixes CRLF and LF keeps each line's own ending (its lines are
    # output with their "\r"); added lines take the more common one.
    mixed = newline == "\r\n" and re.search("(?<!\r)\n", original) is not None
    source = original.removeprefix(bom)
    if not mixed:
        source = source.replace("\r\n", "\n")
    ends_with_newline = source.endswith("\n") or source == ""
    output_lines = source.split("\n")
    if ends_with_newline:
        output_lines.pop()
    lines = [line.removesuffix("\r") for line in output_lines] if mixed else output_lines
    crlf_lines = sum(line.endswith("\r") for line in output_lines)
    ending = "\r" if mixed and crlf_lines * 2 >= len(output_lines) else ""
    hunks = parse()
    for hunk in hunks:
        _refuse_placeholders(hunk, len(hunks), filename)
    trusted = trusted_headers(hunks)
    placements: list[Placement] = []
    notes: list[str] = []
    for hunk in hunks:
        placed = place(lines, hunk, len(hunks), filename, hunk.number in trusted)
        placed = _reindented(placed, lines, len(hunks), filename, notes)
        _refuse_if_repeated(placed, lines, len(hunks), filename)
        if not any(p.start == placed.start and p.hunk.same_change(placed.hunk) for p in placements):
            placements.append(placed)  # the same hunk twice is applied once
            notes.extend(_dropped_notes(placed, lines, len(hunks), filename))
            notes.extend(_unmarked_notes(placed.hunk, len(hunks)))
    placements.sort(key=lambda p: (p.start, p.length))
    placements = _merge_overlaps(placements, lines, filename, notes)
    result: list[str] = []
    cursor = 0
    final_newline = ends_with_newline
    for placement in placements:
        hunk = placement.hunk
        result.extend(output_lines[cursor : placement.start])
        result.extend(render(placement, output_lines, ending))
        cursor = placement.start + placement.length
        if cursor == len(lines) and not v4a and hunk.lines and hunk.lines[-1][0] != " ":
            # The hunk changes the file's last line, so it decides the final newline:
            # one, unless its new side says "\ No newline at end of file" (a model
            # often forgets the marker). A hunk that only has the last line as context
            # leaves the file's ending as it was. V4A cannot say, so it never changes.
            final_newline = not hunk.new_ends_without_newline
    result.extend(output_lines[cursor:])
    method = max((p.method for p in placements), key=METHOD_RANK.__getitem__)
    code = "\n".join(result) + ("\n" if final_newline and result else "")
    if mixed:
        if final_newline and result and not ends_with_newline:
            code = code[:-1] + ending + "\n"  # a new final newline, as added lines end
        return bom + code, method, notes
    return bom + code.replace("\n", newline), method, notes


def _refuse_placeholders(hunk: Hunk, total: int, filename: str) -> None:
    """Refuse a hunk that adds a placeholder for code it left out.

    `# ... existing code ...` or `...  # body unchanged` among added lines means the
    model abbreviated: applied literally, the comment is written and the lines it
    stands for (removed, or never written) are lost. A placeholder the hunk also
    removes is being kept, not invented.
    """
    removed = {text.strip() for kind, text in hunk.lines if kind == "-"}
    added = [text for kind, text in hunk.lines if kind == "+" and text.strip() not in removed]
    line = next((text for text in added if is_placeholder(text)), None) or lost_body(hunk.lines)
    if line is None:
        return
    raise PatchError(
        f"{hunk.kind} {hunk.number} of {total} adds a line that reads as a placeholder for "
        f"code left out:\n    |{line}\nA patch is applied literally: the placeholder would be "
        f"written into {filename} and the code it stands for would be lost. Nothing was "
        "applied. Write the code out in full: keep unchanged lines as context lines "
        "(' '), and mark only the lines you change with '-' and '+'."
    )


def _reindented(
    placement: Placement, lines: list[str], total: int, filename: str, notes: list[str]
) -> Placement:
    """The placement with its added lines indented as the file is (tabs or spaces).

    A model copying a tab-indented file often writes spaces (and the reverse); the
    whitespace-tolerant placement finds the place, but added lines kept verbatim
    would mix tabs and spaces. The step is read from the hunk's own context lines
    against the file's (else four spaces a tab, or the file's space step a tab).
    """
    file_char = file_indent_char(lines)
    hunk = placement.hunk
    if file_char is None:
        return placement
    patch_char = "\t" if file_char == " " else " "
    if not any(patch_char in indent_of(text) for kind, text in hunk.lines if kind == "+"):
        return placement
    ratio = (1, 4) if file_char == "\t" else (space_unit(lines), 1)
    at = placement.start
    for j, theirs in enumerate(hunk.old):
        at += placement.dropped.get(j, 0)
        mine, ours = indent_of(theirs), indent_of(lines[at])
        at += 1
        if mine and ours and set(mine) == {patch_char} and set(ours) == {file_char}:
            step = math.gcd(len(ours), len(mine))
            ratio = (len(ours) // step, len(mine) // step)
            break
    converted: list[tuple[str, str]] = []
    for kind, text in hunk.lines:
        new = reindent(text, file_char, patch_char, ratio) if kind == "+" else text
        if new is None:
            raise PatchError(
                f"{hunk.kind} {hunk.number} of {total} adds a line whose indentation does not "
                f"fit {filename}, which indents with {'tabs' if file_char == chr(9) else 'spaces'}:"
                f"\n    |{text}\nNothing was applied. Indent added lines as the file does."
            )
        converted.append((kind, new))
    if converted == hunk.lines:
        return placement
    what = "tabs" if file_char == "\t" else "spaces"
    notes.append(
        f"{hunk.kind} {hunk.number} of {total} indented its added lines with "
        f"{'spaces' if file_char == chr(9) else 'tabs'}; {filename} indents with {what}, so "
        f"they were re-indented with {what}."
    )
    return dataclasses.replace(placement, hunk=dataclasses.replace(hunk, lines=converted))


def _refuse_if_repeated(placement: Placement, lines: list[str], total: int, filename: str) -> None:
    """Refuse a hunk whose added lines are already right where they would go.

    A patch sent again after it was applied still fits when it only adds lines at
    its edge (an append at the end of the file, an import at the start): its
    context is still there, and a second copy would go in next to the first.
    """
    hunk = placement.hunk
    kinds = [kind for kind, _ in hunk.lines]
    first_old = next((i for i, kind in enumerate(kinds) if kind != "+"), len(kinds))
    last_old = max((i for i, kind in enumerate(kinds) if kind != "+"), default=-1)
    leading = [text for _, text in hunk.lines[:first_old]]
    trailing = [text for _, text in hunk.lines[last_old + 1 :]] if last_old >= 0 else []
    start, end = placement.start, placement.start + placement.length
    neighbours = []
    if leading:
        neighbours.append((leading, lines[max(start - len(leading), 0) : start], start))
        if not hunk.old:  # additions only: the copy may also follow
            neighbours.append((leading, lines[start : start + len(leading)], start))
    if trailing:
        neighbours.append((trailing, lines[end : end + len(trailing)], end))
    for added, there, at in neighbours:
        if any(x.strip() for x in added) and [_collapse(x) for x in added] == [
            _collapse(x) for x in there
        ]:
            raise PatchError(
                f"{hunk.kind} {hunk.number} of {total} adds lines that are already in the file "
                f"right where they would go (by line {at + 1} of {filename}):\n"
                f"{_quote(added)}\nThe patch seems to have been applied already. Nothing was "
                "applied; check the current file and send only what is still missing."
            )


def _merge_overlaps(
    placements: list[Placement], lines: list[str], filename: str, notes: list[str]
) -> list[Placement]:
    """Overlapping hunks joined into one when the lines they share are only context.

    Hunks written against the same file often share context lines (a change four
    lines below another). They are joined when every shared line is context in
    both and they do not both add lines at one place; otherwise the overlap is
    refused. `placements` are sorted by start.
    """
    merged: list[Placement] = []
    for placement in placements:
        if not merged or merged[-1].start + merged[-1].length <= placement.start:
            merged.append(placement)
            continue
        before = merged[-1]
        ops_a, adds_a = _edits(before)
        ops_b, adds_b = _edits(placement)
        # Shared lines must be context in both: a line both remove may be replaced
        # differently (or not at all) by each, and two additions at one place have
        # no order.
        shared = ops_a.keys() & ops_b.keys()
        clash = any(ops_a[i] != " " or ops_b[i] != " " for i in shared) or bool(
            adds_a.keys() & adds_b.keys()
        )
        first, second = sorted((before, placement), key=lambda p: p.hunk.number)
        if clash:
            kind = f"{first.hunk.kind}s"
            raise PatchError(
                f"{kind} {first.hunk.number} and {second.hunk.number} overlap in {filename} "
                f"(lines {_span(first)} and {_span(second)}), and one changes lines the other "
                f"keeps or changes otherwise: merge them into one {first.hunk.kind.lower()}."
            )
        ops, adds = {**ops_a, **ops_b}, {**adds_a, **adds_b}
        low = before.start
        high = max(before.start + before.length, placement.start + placement.length)
        joined: list[tuple[str, str]] = []
        for i in range(low, high):
            joined += [("+", text) for text in adds.get(i, [])]
            joined.append((ops[i], lines[i]))
        joined += [("+", text) for text in adds.get(high, [])]
        last = placement if placement.start + placement.length == high else before
        hunk = dataclasses.replace(
            first.hunk, lines=joined, new_ends_without_newline=last.hunk.new_ends_without_newline
        )
        method = max(before.method, placement.method, key=METHOD_RANK.__getitem__)
        merged[-1] = Placement(hunk, low, method)
        notes.append(
            f"{first.hunk.kind}s {first.hunk.number} and {second.hunk.number} overlap on lines "
            "they both leave unchanged; they were applied as one."
        )
    return merged


def _edits(placement: Placement) -> tuple[dict[int, str], dict[int, list[str]]]:
    """What a placement does: each file line it covers kept (" ") or removed ("-"),
    and the lines it adds before each file line index."""
    ops: dict[int, str] = {}
    adds: dict[int, list[str]] = {}
    at, old_index = placement.start, 0
    for kind, text in placement.hunk.lines:
        if kind == "+":
            adds.setdefault(at, []).append(text)
            continue
        for _ in range(placement.dropped.get(old_index, 0)):
            ops[at] = " "
            at += 1
        ops[at] = kind
        at += 1
        old_index += 1
    return ops, adds


def _unmarked_notes(hunk: Hunk, total: int) -> list[str]:
    if not hunk.unmarked:
        return []
    quoted = _quote(hunk.unmarked)
    return [
        f"{hunk.kind} {hunk.number} of {total} had lines without their leading space:\n"
        f"{quoted}\nThey matched the file as context lines and were kept unchanged."
    ]


def render(placement: Placement, lines: list[str], ending: str = "") -> list[str]:
    """The lines that replace the placement's span of the file (`ending` after each
    added line: a "\r" where the file mixes line endings and keeps each line's own)."""
    result: list[str] = []
    at = placement.start  # the next line of the file in the hunk's span
    old_index = 0
    for kind, added in placement.hunk.lines:
        if kind == "+":
            result.append(added + ending)
            continue
        kept = placement.dropped.get(old_index, 0)
        result.extend(lines[at : at + kept])  # lines the hunk left out, unchanged
        at += kept
        if kind == " ":
            result.append(lines[at])  # the file's own context line
        at += 1
        old_index += 1
    return result


def _dropped_notes(placement: Placement, lines: list[str], total: int, filename: str) -> list[str]:
    hunk = placement.hunk
    notes = []
    at = placement.start
    for old_index in range(len(hunk.old)):
        kept = placement.dropped.get(old_index, 0)
        if kept:
            which = f"line {at + 1}" if kept == 1 else f"lines {at + 1}-{at + kept}"
            quoted = "\n".join(f"    |{line}" for line in lines[at : at + kept])
            notes.append(
                f"{hunk.kind} {hunk.number} of {total} left out {which} of {filename} "
                f"(the {hunk.kind.lower()} starts at line {placement.start + 1}):\n"
                f"{quoted}\nThey were assumed to be unchanged context and kept. If the "
                "change was meant to alter or remove them, submit a corrected patch."
            )
        at += kept + 1
    return notes


def _span(placement: Placement) -> str:
    return f"{placement.start + 1}-{placement.start + max(placement.length, 1)}"


# --- V4A ----------------------------------------------------------------------------


def _apply_v4a(original: str, text: str, filename: str) -> tuple[str, str, list[str]]:
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
    while body and body[-1] == "":
        body.pop()  # blank lines before `*** End Patch` end the patch; they are not context
    # A line with no marker is a context line that lost its leading space (a line at
    # column 0, such as `writer = Agent(` or `@function_tool`): placing checks it.
    unmarked = [line for line in body if line and not line.startswith((" ", "+", "-", "@@", "***"))]
    body = [" " + line if line in unmarked else line for line in body]

    def parse() -> list[Hunk]:
        hunks = parse_v4a(body)
        for hunk in hunks:
            hunk.unmarked = [line for line in unmarked if line in hunk.old]
        return hunks

    return _apply_hunks(original, filename, parse, v4a=True)


def parse_v4a(body: list[str]) -> list[Hunk]:
    """The chunks of a V4A update section, read by the SDK's own V4A parser.

    Each `@@` section becomes one Hunk (its context, removed and added lines in order,
    with its anchors and `*** End of File` mark), so that it is placed like a unified
    hunk: in one place only, never at the first of several.
    """
    parser = ParserState(lines=[*body, END_PATCH])
    hunks: list[Hunk] = []
    try:
        while not _is_done(parser, END_SECTION_MARKERS):
            anchors, anchor_count = _read_anchors(parser)
            if anchor_count == 0 and hunks:
                raise PatchError(
                    f"V4A chunk {len(hunks) + 1} does not start with an `@@` line:\n"
                    f"    |{parser.lines[parser.index]}\n"
                    "Start every chunk after the first with `@@` (or `@@ <line>`)."
                )
            section = _read_section(parser.lines, parser.index)
            parser.index = section.end_index
            hunk = Hunk(len(hunks) + 1, None, kind="Chunk", anchors=anchors, at_end=section.eof)
            done = 0
            for chunk in section.section_chunks:
                hunk.lines += [
                    (" ", line) for line in section.next_context[done : chunk.orig_index]
                ]
                hunk.lines += [("-", line) for line in chunk.del_lines]
                hunk.lines += [("+", line) for line in chunk.ins_lines]
                done = chunk.orig_index + len(chunk.del_lines)
            hunk.lines += [(" ", line) for line in section.next_context[done:]]
            hunks.append(hunk)
    except ValueError as exc:
        # The SDK says e.g. "Invalid Line: foo" for a line without ' ', '-' or '+'.
        raise PatchError(
            f"The V4A patch cannot be read: {exc}\nEvery line of a chunk starts with ' ' "
            "(context), '-' (removed) or '+' (added); chunks start with `@@`."
        ) from None
    if not hunks:
        raise PatchError("The V4A patch has no chunk: add `@@` chunks with '-' and '+' lines.")
    check_every_hunk_changes(hunks, "V4A patch")
    return hunks


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
