"""Where a hunk goes in the file: one place only, by the first method that finds one
(exact, relocated, whitespace, dropped-context), else a refusal saying why not."""

import re

from agents_app.patch_text import is_placeholder
from agents_app.patching.hunks import Hunk, PatchError, Placement, collapse, quote
from agents_app.patching.render import render

MAX_DROPPED = 2  # file lines a hunk may have left out between its own lines
MIN_LINES_FOR_DROPPED = 3  # non-blank context/removed lines needed to assume any


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
        for method, compare in (("relocated", _same), ("whitespace", collapse)):
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
        f"{quote(old)}\n{_nearest(lines, old, filename)}{also}{_hints(lines, hunk)}"
        "Copy context and removed lines exactly from the file as shown."
    )


def _hints(lines: list[str], hunk: Hunk) -> str:
    """Why a hunk that matches nowhere may not: a placeholder, lines without a marker."""
    in_file = {collapse(line) for line in lines}
    hints = ""
    placeholders = [
        x
        for x in hunk.old
        if (is_placeholder(x) or x.strip() in ("...", "…")) and collapse(x) not in in_file
    ]
    if placeholders:
        hints += (
            f"The line\n    |{placeholders[0]}\nreads as a placeholder for code left out; a "
            "diff cannot leave code out: copy the lines it stands for.\n"
        )
    unmarked = [x for x in hunk.unmarked if collapse(x) not in in_file]
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
    new = [collapse(x) for x in hunk.new]
    if not new or not any(new):
        return
    file_lines = [collapse(x) for x in lines]
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
    wanted = collapse(hunk.heading)
    if not any(collapse(line).startswith(wanted) for line in lines):
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
    if collapse(lines[start]).startswith(wanted):
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
            if collapse(line).startswith(wanted):
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
        f"it looks for these context and removed lines:\n{quote(hunk.old)}\n"
        f"{fix} so that it matches one place only."
    )


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
    wanted = collapse(anchor)
    if tier == 1:
        return collapse(line) == wanted
    return bool(wanted) and collapse(line).startswith(wanted)


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
    for compare in (_same, collapse):
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
    file_lines, wanted = [collapse(x) for x in lines], [collapse(x) for x in old]
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
