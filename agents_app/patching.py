"""Apply a model's patch to the project's one file, or say exactly why not.

Models write imperfect diffs. This module accepts what it can place with certainty
and refuses the rest with an error a model can act on:

- the diff may sit in a code fence or among prose; both are stripped;
- OpenAI's V4A format (`*** Begin Patch`) is applied with the SDK's `apply_diff`;
- each unified-diff hunk is placed by the first of: its header's line number
  (exact), the one place in the file where its context and removed lines occur
  (relocated: header numbers are ignored, hunks may come in any order), the one
  place where they occur ignoring whitespace (whitespace: context and removed
  lines only; added lines always go in verbatim);
- a hunk that matches nowhere, or in more than one place, is refused, naming the
  hunk and quoting the lines looked for. A hunk repeated verbatim counts once.

The result must parse with `ast`. The stored diff is regenerated from the old and
new file as `git diff` writes it (`unified_diff`).
"""

import ast
import difflib
import hashlib
import itertools
import posixpath
import re
from dataclasses import dataclass, field

from agents import apply_diff as apply_v4a

HUNK_HEADER = re.compile(r"^@@+ ?(?:-(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))?)? ?@@+.*$")
FENCE = re.compile(r"^\s*```")
NO_NEWLINE = "\\ No newline at end of file"
QUOTE_LINES = 8


@dataclass(frozen=True)
class PatchResult:
    ok: bool
    code: str | None
    error: str | None
    method: str

    @classmethod
    def refused(cls, error: str) -> "PatchResult":
        return cls(ok=False, code=None, error=error, method="")


class PatchError(ValueError):
    """The patch cannot be applied; the message says why, for the model."""


@dataclass
class Hunk:
    number: int
    old_start: int | None
    lines: list[tuple[str, str]] = field(default_factory=list)  # (" "|"-"|"+", text)
    old_ends_without_newline: bool = False
    new_ends_without_newline: bool = False

    @property
    def old(self) -> list[str]:
        return [text for kind, text in self.lines if kind != "+"]

    @property
    def new(self) -> list[str]:
        return [text for kind, text in self.lines if kind != "-"]

    def key(self) -> tuple[tuple[tuple[str, str], ...], bool]:
        return tuple(self.lines), self.new_ends_without_newline


@dataclass(frozen=True)
class Placement:
    hunk: Hunk
    start: int  # 0-based index of the hunk's first old line in the file
    method: str


METHOD_RANK = {"exact": 0, "relocated": 1, "whitespace": 2}


# --- Entry point -------------------------------------------------------------------


def apply_patch(original: str, patch: str, filename: str) -> PatchResult:
    """The new file, or a refusal naming the problem (hunk, lines, parser message)."""
    try:
        text = extract_patch(patch)
        if "*** Begin Patch" in text or text.lstrip().startswith("*** Update File:"):
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
    try:
        ast.parse(code, filename=filename)
    except SyntaxError as exc:
        quoted = ""
        lineno = exc.lineno or 0
        if 0 < lineno <= len(code.splitlines()):
            quoted = f"\n    {code.splitlines()[lineno - 1]}"
        return (
            f"The patched {filename} does not parse: line {exc.lineno}: {exc.msg}.{quoted}\n"
            "The patch applied, but the result is not valid Python."
        )
    return None


# --- Finding the diff among prose ---------------------------------------------------


def extract_patch(patch: str) -> str:
    """The diff itself: line endings normalised, fences and surrounding prose removed."""
    text = patch.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if "*** Begin Patch" in text:
        start = next(i for i, line in enumerate(lines) if line.strip() == "*** Begin Patch")
        end = next(
            (i for i, line in enumerate(lines) if i > start and line.strip() == "*** End Patch"),
            len(lines) - 1,
        )
        return "\n".join(lines[start : end + 1]) + "\n"
    fenced = _fenced_block(lines)
    if fenced is not None:
        lines = fenced
    first = next(
        (
            i
            for i, line in enumerate(lines)
            if line.startswith(("diff --git ", "--- ", "@@")) or line.startswith("*** Update File:")
        ),
        None,
    )
    if first is None:
        raise PatchError(
            "No diff found: send a unified diff (`--- a/FILE`, `+++ b/FILE`, `@@ ... @@` hunks)."
        )
    body = lines[first:]
    end = len(body)
    for i, line in enumerate(body):
        if i and not _is_diff_line(line):
            end = i
            break
    return "\n".join(body[:end]).rstrip("\n") + "\n"


def _fenced_block(lines: list[str]) -> list[str] | None:
    """The first fenced block that holds a diff, if the patch has fences."""
    opened: int | None = None
    for i, line in enumerate(lines):
        if FENCE.match(line):
            if opened is None:
                opened = i
            else:
                block = lines[opened + 1 : i]
                if any(l.startswith(("@@", "--- ", "diff --git")) for l in block):  # noqa: E741
                    return block
                opened = None
    if opened is not None:  # an unclosed fence: everything after it
        block = lines[opened + 1 :]
        if any(l.startswith(("@@", "--- ", "diff --git")) for l in block):  # noqa: E741
            return block
    return None


def _is_diff_line(line: str) -> bool:
    return (
        line == ""
        or line[0] in " +-@\\"
        or line.startswith(
            ("diff --git ", "index ", "new file mode", "deleted file mode", "similarity", "rename ")
        )
    )


# --- Paths --------------------------------------------------------------------------


def _check_path(raw: str, filename: str) -> None:
    path = raw.split("\t", 1)[0].strip()
    if path == "/dev/null":
        raise PatchError(
            f"The diff creates or deletes a file; only changes to {filename} are allowed."
        )
    if path.startswith(("a/", "b/")):
        path = path[2:]
    if path.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", path):
        raise PatchError(f"The diff names an absolute path ({raw.strip()}); use {filename}.")
    if ".." in path.replace("\\", "/").split("/"):
        raise PatchError(f"The diff names a path outside the project ({raw.strip()}).")
    if posixpath.normpath(path) != filename:
        raise PatchError(
            f"The diff changes {path!r}, but only {filename!r} may be changed: "
            f"use `--- a/{filename}` and `+++ b/{filename}`."
        )


# --- Unified diffs ------------------------------------------------------------------


def parse_unified(text: str, filename: str) -> list[Hunk]:
    hunks: list[Hunk] = []
    current: Hunk | None = None
    seen_old = seen_new = False
    for line in text.split("\n"):
        if line.startswith("diff --git "):
            parts = line.split()
            if len(parts) >= 4:
                _check_path(parts[2], filename)
                _check_path(parts[3], filename)
            current = None
            continue
        if line.startswith("--- ") and (current is None or not _hunk_needs(current, "-", line)):
            _check_path(line[4:], filename)
            if seen_old and hunks:
                raise PatchError(_more_than_one_file(filename))
            seen_old, current = True, None
            continue
        if line.startswith("+++ ") and (current is None or not _hunk_needs(current, "+", line)):
            _check_path(line[4:], filename)
            if seen_new and hunks:
                raise PatchError(_more_than_one_file(filename))
            seen_new, current = True, None
            continue
        if line.startswith(
            ("index ", "new file mode", "deleted file mode", "similarity", "rename ")
        ):
            if line.startswith(("new file mode", "deleted file mode", "rename ")):
                raise PatchError(
                    f"The diff creates, deletes or renames a file; only edit {filename}."
                )
            continue
        match = HUNK_HEADER.match(line)
        if match:
            old_start = int(match.group(1)) if match.group(1) else None
            current = Hunk(number=len(hunks) + 1, old_start=old_start)
            hunks.append(current)
            continue
        if current is None:
            if line.strip():
                raise PatchError(f"Unexpected line outside a hunk: {line!r}")
            continue
        if line.startswith("\\"):
            if current.lines and current.lines[-1][0] == "-":
                current.old_ends_without_newline = True
            elif current.lines and current.lines[-1][0] == "+":
                current.new_ends_without_newline = True
            elif current.lines:
                current.old_ends_without_newline = current.new_ends_without_newline = True
            continue
        if line == "":
            current.lines.append((" ", ""))  # a blank context line that lost its space
        elif line[0] in " -+":
            current.lines.append((line[0], line[1:]))
        else:
            raise PatchError(f"Hunk {current.number}: unexpected line {line!r}.")
    for hunk in hunks:
        while hunk.lines and hunk.lines[-1] == (" ", ""):
            hunk.lines.pop()  # trailing blank lines are the diff's end, not context
    hunks = [h for h in hunks if any(kind != " " for kind, _ in h.lines)]
    if not hunks:
        raise PatchError("The diff has no hunk that changes anything.")
    return hunks


def _more_than_one_file(filename: str) -> str:
    return f"The diff has two sections for {filename}: send one diff with all its hunks."


def _hunk_needs(hunk: Hunk, kind: str, line: str) -> bool:
    """Inside a hunk, `--- x`/`+++ x` may be a removed `-- x` or added `++ x` line."""
    return bool(hunk.lines) and not line[4:].startswith(("a/", "b/", "/dev/null"))


def _normalise(line: str) -> str:
    return " ".join(line.split())


def _matches(lines: list[str], old: list[str], start: int, loose: bool) -> bool:
    if start < 0 or start + len(old) > len(lines):
        return False
    window = lines[start : start + len(old)]
    if loose:
        return [_normalise(x) for x in window] == [_normalise(x) for x in old]
    return window == old


def _all_matches(lines: list[str], old: list[str], loose: bool) -> list[int]:
    return [i for i in range(len(lines) - len(old) + 1) if _matches(lines, old, i, loose)]


def _quote(old: list[str]) -> str:
    shown = old[:QUOTE_LINES]
    more = f"\n    … ({len(old) - QUOTE_LINES} more)" if len(old) > QUOTE_LINES else ""
    return "\n".join(f"    |{line}" for line in shown) + more


def place(lines: list[str], hunk: Hunk, total: int) -> Placement:
    old = hunk.old
    label = f"Hunk {hunk.number} of {total}"
    if not old:
        if hunk.old_start is not None:
            # Pure insertion without context: only its header says where.
            return Placement(hunk, min(max(hunk.old_start, 0), len(lines)), "exact")
        raise PatchError(f"{label} adds lines without any context: include context lines.")
    if hunk.old_start is not None and _matches(lines, old, hunk.old_start - 1, loose=False):
        return Placement(hunk, hunk.old_start - 1, "exact")
    for loose, method in ((False, "relocated"), (True, "whitespace")):
        found = _all_matches(lines, old, loose)
        if len(found) == 1:
            return Placement(hunk, found[0], method)
        if len(found) > 1:
            where = ", ".join(str(i + 1) for i in found[:6])
            raise PatchError(
                f"{label} matches {len(found)} places (lines {where}); it looks for:\n"
                f"{_quote(old)}\nAdd context lines so that it matches one place only."
            )
    raise PatchError(
        f"{label} does not match the file: these context and removed lines are not in it "
        f"(header line {hunk.old_start or '?'}):\n{_quote(old)}\n"
        "Copy context lines exactly from the file as shown."
    )


def _apply_unified(original: str, text: str, filename: str) -> tuple[str, str]:
    newline = "\r\n" if "\r\n" in original else "\n"
    source = original.replace("\r\n", "\n")
    ends_with_newline = source.endswith("\n") or source == ""
    lines = source.split("\n")
    if ends_with_newline:
        lines.pop()
    hunks: list[Hunk] = []
    seen: set[tuple[tuple[tuple[str, str], ...], bool]] = set()
    for hunk in parse_unified(text, filename):
        if hunk.key() not in seen:  # the same hunk twice is applied once
            seen.add(hunk.key())
            hunks.append(hunk)
    placements = sorted((place(lines, h, len(hunks)) for h in hunks), key=lambda p: p.start)
    for before, after in itertools.pairwise(placements):
        if before.start + len(before.hunk.old) > after.start:
            raise PatchError(
                f"Hunks {before.hunk.number} and {after.hunk.number} overlap in the file: "
                "merge them into one hunk."
            )
    result: list[str] = []
    cursor = 0
    final_newline = ends_with_newline
    for placement in placements:
        result.extend(lines[cursor : placement.start])
        hunk = placement.hunk
        old_window = lines[placement.start : placement.start + len(hunk.old)]
        old_iter = iter(old_window)
        for kind, text_line in hunk.lines:
            if kind == " ":
                result.append(next(old_iter))  # the file's own context line
            elif kind == "-":
                next(old_iter)
            else:
                result.append(text_line)
        cursor = placement.start + len(hunk.old)
        if cursor >= len(lines):
            if hunk.new_ends_without_newline:
                final_newline = False
            elif hunk.old_ends_without_newline or not ends_with_newline:
                final_newline = True
    result.extend(lines[cursor:])
    method = max((p.method for p in placements), key=METHOD_RANK.__getitem__)
    code = "\n".join(result) + ("\n" if final_newline and result else "")
    return code.replace("\n", newline) if newline != "\n" else code, method


# --- V4A ----------------------------------------------------------------------------


def _apply_v4a(original: str, text: str, filename: str) -> str:
    lines = text.split("\n")
    updates = [line for line in lines if line.startswith("*** ") and "File:" in line]
    if not updates:
        raise PatchError(f"The V4A patch has no `*** Update File: {filename}` section.")
    if len(updates) > 1:
        raise PatchError(f"The patch changes more than one file; only {filename} may be changed.")
    action, _, path = updates[0][4:].partition(":")
    if action.strip() != "Update File":
        raise PatchError(f"The patch tries to {action.strip().lower()}; only edit {filename}.")
    _check_path(path.strip(), filename)
    start = lines.index(updates[0]) + 1
    body = []
    for line in lines[start:]:
        if line.startswith("*** ") and line.strip() != "*** End of File":
            break
        body.append(line)
    try:
        return apply_v4a(original, "\n".join(body) + "\n")
    except ValueError as exc:
        raise PatchError(f"The V4A patch does not match {filename}: {exc}") from None


# --- Writing diffs --------------------------------------------------------------------


def unified_diff(old: str, new: str, filename: str) -> str:
    """`new` against `old` exactly as `git diff` writes it; "" when they are equal.

    Like git: an `index` line with the blobs' abbreviated ids, three lines of context,
    the enclosing "function" line after each `@@` (git's default rule: the nearest
    line above the hunk that starts with a letter, `_` or `$`), and the
    "\\ No newline at end of file" marker.
    """
    if old == new:
        return ""
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    body = []
    for line in difflib.unified_diff(old_lines, new_lines, f"a/{filename}", f"b/{filename}", n=3):
        if line.startswith(("--- ", "+++ ")):
            body.append(line.rstrip("\n") + "\n")
        elif line.startswith("@@"):
            body.append(_git_hunk_header(line, old_lines))
        elif line.endswith("\n"):
            body.append(line)
        else:
            body.append(line + "\n" + NO_NEWLINE + "\n")
    index = f"index {_blob_id(old)[:7]}..{_blob_id(new)[:7]} 100644\n"
    return f"diff --git a/{filename} b/{filename}\n{index}" + "".join(body)


def _blob_id(content: str) -> str:
    data = content.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


FUNCNAME = re.compile(r"^[A-Za-z_$]")
FUNCNAME_MAX_BYTES = 80


def _git_hunk_header(line: str, old_lines: list[str]) -> str:
    header = line.rstrip("\n")
    match = re.match(r"^@@ -(\d+)", header)
    start = int(match.group(1)) if match else 0
    for candidate in reversed(old_lines[: max(start - 1, 0)]):
        if FUNCNAME.match(candidate):
            name = candidate.rstrip().encode()[:FUNCNAME_MAX_BYTES].decode(errors="ignore")
            return f"{header} {name}\n"
    return header + "\n"
