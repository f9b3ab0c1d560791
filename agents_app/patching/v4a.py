"""OpenAI's V4A patches (`*** Begin Patch`), read with the SDK's own parser into hunks
that are placed like unified ones."""

from collections.abc import Callable

from agents.apply_diff import (
    END_PATCH,
    END_SECTION_MARKERS,
    ParserState,
    _is_done,
    _read_anchors,
    _read_section,
)

from agents_app.patching.hunks import Hunk, PatchError, check_every_hunk_changes, check_path


def v4a_parser(text: str, filename: str) -> Callable[[], list[Hunk]]:
    """What reads the chunks of a V4A patch for `filename`; refuses at once a patch that
    names another file or creates, deletes or moves one."""
    lines = text.split("\n")
    sections = [line for line in lines if line.startswith("*** ") and "File:" in line]
    if not sections:
        raise PatchError(f"The V4A patch has no `*** Update File: {filename}` section.")
    if len(sections) > 1:
        raise PatchError(f"The patch changes more than one file; only {filename} may be changed.")
    action, _, path = sections[0][4:].partition(":")
    if action.strip() != "Update File":
        raise PatchError(f"The patch tries to {action.strip().lower()}; only edit {filename}.")
    check_path(path.strip(), filename)
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

    return parse


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
