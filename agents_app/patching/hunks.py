"""What every part of the patch applier shares: its results, hunks and placements,
and the checks and quoting both diff formats use."""

import posixpath
import re
from dataclasses import dataclass, field

from agents_app.patch_text import INVISIBLE

METHOD_RANK = {"exact": 0, "relocated": 1, "whitespace": 2, "dropped-context": 3}
QUOTE_LINES = 20


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


def collapse(line: str) -> str:
    """The line with whitespace runs made one space and invisible characters dropped."""
    return " ".join(line.translate(INVISIBLE).split())


def quote(lines: list[str]) -> str:
    shown = "\n".join(f"    |{line}" for line in lines[:QUOTE_LINES])
    more = len(lines) - QUOTE_LINES
    return shown + (f"\n    … ({more} more lines)" if more > 0 else "")


def check_path(raw: str, filename: str) -> None:
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
    shown = quote([text for _, text in hunk.lines])
    raise PatchError(
        f"{label} has no '+' or '-' line, so it changes nothing:\n{shown}\n"
        "Mark each added line with '+' and each removed line with '-' (a line that lost "
        f"its marker reads as unchanged context), or leave the {hunk.kind.lower()} out. "
        "Nothing was applied."
    )
