"""Text-level checks for model-written patches, apart from placing hunks.

`agents_app.patching` places hunks; this module holds what only looks at text:
finding a patch that was sent as a JSON string, telling a placeholder that stands
for code left out (`# ... existing code ...`) from real code, and re-indenting
added lines written with spaces for a file indented with tabs (or the reverse).
Each answers from the text alone, so the rules can be tested one by one.
"""

import json
import re
from collections.abc import Iterable, Sequence

# Characters that take no room: a file may hold them where the model's copy does not.
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))

# A JSON string literal (one line: its newlines are escaped).
JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
DIFF_START = re.compile(
    r"^(diff --git |--- |\+\+\+ |@@|\*\*\* Begin Patch|\*\*\* Update File:)", re.M
)

# A comment that stands for code left out: it starts (after an optional bracket)
# with an ellipsis, or is a short note that the rest is unchanged.
ELLIPSIS_START = re.compile(r"^[(\[{<]?\s*(\.\.\.|…)")
UNCHANGED_NOTE = re.compile(
    r"\b(unchanged|no changes?|as before|same as (before|above|the original|original)"
    r"|(remains?|stays?|is|are|kept) (the )?same|omitted|elided|not shown"
    r"|(keep|keeps|kept) (the )?(existing|rest|remaining|other)"
    r"|existing (code|logic|implementation|body|lines|content|contents)"
    r"|rest of (the )?(code|file|function|method|class|body|module|list|arguments"
    r"|settings|definition|implementation|lines|loop|block))\b",
    re.IGNORECASE,
)
MAX_NOTE_WORDS = 8  # a longer comment that mentions "unchanged" is prose, not a placeholder
STUB_CODE = ("...", "…", "pass")


def json_patch(message: str) -> str | None:
    """The patch inside a JSON string of `message`, when the message has no diff itself.

    A model that writes its tool call as text sends `{"patch": "--- a/x\\n+++ ..."}`:
    the diff is one line with escaped newlines. Each JSON string literal of the
    message is decoded; the one that holds a diff (a line that starts one) is it.
    None when the message already has diff lines, or no string holds a diff.
    Several different diffs raise ValueError: which one was meant is unknown.
    """
    if DIFF_START.search(message):
        return None
    found: list[str] = []
    for literal in JSON_STRING.finditer(message):
        if "\\n" not in literal.group():
            continue
        try:
            text = json.loads(literal.group())
        except ValueError:
            continue
        if isinstance(text, str) and DIFF_START.search(text) and text not in found:
            found.append(text)
    if len(found) > 1:
        raise ValueError(f"{len(found)} different patches")
    return found[0] if found else None


def is_placeholder(line: str) -> bool:
    """Whether a line reads as a stand-in for code left out, not as code.

    `# ... existing handoffs unchanged ...`, `// ...`, `# rest unchanged`,
    `pass  # ... existing logic ...`, `...  # body unchanged`. A bare `...` is real
    Python (a stub body); `lost_body` judges it by what it replaces.
    """
    text = line.strip()
    code, comment = _split_comment(text)
    if comment is None or code not in ("", *STUB_CODE):
        return False
    if ELLIPSIS_START.match(comment):
        return True
    words = comment.strip("()[]{}<> .…").split()
    if not words:
        return False
    return len(words) <= MAX_NOTE_WORDS and bool(UNCHANGED_NOTE.search(comment))


def _split_comment(text: str) -> tuple[str, str | None]:
    """The code and the comment of a stripped line (`#` or a stray `//`)."""
    for marker in ("#", "//"):
        if text.startswith(marker):
            return "", text[len(marker) :].strip()
    match = re.match(r"^(\.\.\.|…|pass)\s+(#|//)\s*(.*)$", text)
    if match:
        return match.group(1), match.group(3)
    return text, None


def lost_body(lines: Sequence[tuple[str, str]]) -> str | None:
    """An added bare `...` that replaces removed code in the same run of changes.

    `lines` are a hunk's (kind, text) lines. A run is the removed and added lines
    between two context lines. When a run adds `...` and removes non-blank lines
    that it does not add back (deeper or as deep as the `...`), the `...` stands for
    them: the line is returned. A `...` that replaces nothing is a stub and is kept.
    """
    run: list[tuple[str, str]] = []
    for kind, text in [*lines, (" ", "")]:
        if kind != " ":
            run.append((kind, text))
            continue
        added = {t.strip() for k, t in run if k == "+"}
        for k, stub in run:
            if k != "+" or stub.strip() not in ("...", "…"):
                continue
            depth = _indent_width(stub)
            lost = [
                t
                for kk, t in run
                if kk == "-" and t.strip() and t.strip() not in added and _indent_width(t) >= depth
            ]
            if lost:
                return stub
        run = []
    return None


def _indent_width(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


# --- Indentation -------------------------------------------------------------------


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def file_indent_char(lines: Iterable[str]) -> str | None:
    """ "\\t" or " " when every indented line of the file starts with it; else None."""
    chars = {line[0] for line in lines if line[:1] in (" ", "\t") and line.strip()}
    return chars.pop() if len(chars) == 1 else None


def space_unit(lines: Iterable[str]) -> int:
    """The file's indentation step in spaces: the smallest indentation (4 if none)."""
    widths = [len(indent_of(line)) for line in lines if line[:1] == " " and line.strip()]
    return min(widths) if widths else 4


def reindent(added: str, file_char: str, patch_char: str, ratio: tuple[int, int]) -> str | None:
    """`added` with its leading `patch_char`s turned into `file_char`s.

    `ratio` is (file characters, patch characters): (1, 4) turns four spaces into a
    tab. None when the line's indentation is not a whole number of steps, or mixes
    characters: the intended depth is then unknown.
    """
    indent = indent_of(added)
    if not indent or set(indent) == {file_char}:
        return added
    if set(indent) != {patch_char}:
        return None
    file_chars, patch_chars = ratio
    if (len(indent) * file_chars) % patch_chars:
        return None
    return file_char * (len(indent) * file_chars // patch_chars) + added[len(indent) :]
