"""Reading a unified diff into hunks, and telling which hunk headers `diff` wrote."""

import re

from agents_app.patching.hunks import Hunk, PatchError, check_every_hunk_changes, check_path

HUNK_NUMBERS = re.compile(r"^@@+ ?-(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? ?@@")
HEADER_LINES = ("index ", "new file mode", "deleted file mode", "similarity", "rename ")
LOST_SPACE = ("", "")  # an empty line in a hunk, until we know whether it is context


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
                check_path(path, filename)
            current = None
        elif _is_file_header(line, following, current):
            check_path(line[4:], filename)
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
