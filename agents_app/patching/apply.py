"""The entry point: a model's patch applied to the project's one file (`apply_patch`),
or a refusal the model can act on. See the package's docstring for what is accepted."""

import ast
import dataclasses
import math
import re
from collections.abc import Callable

from agents_app.patch_text import (
    file_indent_char,
    indent_of,
    is_placeholder,
    lost_body,
    reindent,
    space_unit,
)
from agents_app.patching.extract import (
    extract_patches,
    unified_in_envelope,
    unwrap_json,
    valid_text,
)
from agents_app.patching.hunks import (
    METHOD_RANK,
    Hunk,
    PatchError,
    PatchResult,
    Placement,
    collapse,
    quote,
)
from agents_app.patching.placement import place
from agents_app.patching.render import dropped_notes, merge_overlaps, render, unmarked_notes
from agents_app.patching.unified import parse_unified, trusted_headers
from agents_app.patching.v4a import v4a_parser


def apply_patch(original: str, patch: str, filename: str) -> PatchResult:
    """The new file, or a refusal naming the problem (hunk, lines, parser message)."""
    notes: list[str] = []
    try:
        patch = unwrap_json(patch, notes)
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
            unified = unified_in_envelope(text, filename)
            if unified is None:
                code, _, assumed = _apply_hunks(
                    original, filename, v4a_parser(text, filename), v4a=True
                )
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
            notes.extend(dropped_notes(placed, lines, len(hunks), filename))
            notes.extend(unmarked_notes(placed.hunk, len(hunks)))
    placements.sort(key=lambda p: (p.start, p.length))
    placements = merge_overlaps(placements, lines, filename, notes)
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
        if any(x.strip() for x in added) and [collapse(x) for x in added] == [
            collapse(x) for x in there
        ]:
            raise PatchError(
                f"{hunk.kind} {hunk.number} of {total} adds lines that are already in the file "
                f"right where they would go (by line {at + 1} of {filename}):\n"
                f"{quote(added)}\nThe patch seems to have been applied already. Nothing was "
                "applied; check the current file and send only what is still missing."
            )
