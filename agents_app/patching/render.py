"""Writing text: the lines a placed hunk puts in the file, overlapping hunks joined,
the notes on what was assumed, and a diff as `git diff` writes it (`unified_diff`)."""

import dataclasses

import pygit2
from pygit2.enums import DiffOption

from agents_app.patching.hunks import METHOD_RANK, Hunk, PatchError, Placement, quote


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


def merge_overlaps(
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


def _span(placement: Placement) -> str:
    return f"{placement.start + 1}-{placement.start + max(placement.length, 1)}"


def dropped_notes(placement: Placement, lines: list[str], total: int, filename: str) -> list[str]:
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


def unmarked_notes(hunk: Hunk, total: int) -> list[str]:
    if not hunk.unmarked:
        return []
    quoted = quote(hunk.unmarked)
    return [
        f"{hunk.kind} {hunk.number} of {total} had lines without their leading space:\n"
        f"{quoted}\nThey matched the file as context lines and were kept unchanged."
    ]


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
