"""The review page's diff: old and new line numbers, +/- marks, folded unchanged code.

Rendered here on the server, from the base file (git, at the diff's base commit) and
the patched file the Diff row stores, rather than by a client-side library such as
diff2html: knowing both whole files is what lets "show more context" reveal real
lines between hunks, Pygments already highlights the rest of the site (one
stylesheet, no build step), and server HTML needs nothing from the
Content-Security-Policy beyond what the pages already allow.
"""

import difflib
from dataclasses import dataclass, field
from typing import Literal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from pygments.lexers import PythonLexer
from pygments.token import STANDARD_TYPES, _TokenType

CONTEXT_LINES = 3
Kind = Literal["context", "add", "del"]


@dataclass(frozen=True)
class Line:
    kind: Kind
    old_no: int | None
    new_no: int | None
    html: SafeString

    @property
    def sign(self) -> str:
        return {"context": " ", "add": "+", "del": "-"}[self.kind]


@dataclass(frozen=True)
class SplitRow:
    """One row of the side-by-side view: the old line left, the new line right."""

    left: Line | None
    right: Line | None


@dataclass
class Block:
    """A hunk (shown), or a run of unchanged lines between hunks (folded away)."""

    folded: bool
    lines: list[Line] = field(default_factory=list)

    @property
    def header(self) -> str:
        old = [line.old_no for line in self.lines if line.old_no is not None]
        new = [line.new_no for line in self.lines if line.new_no is not None]
        old_start = old[0] if old else 0
        new_start = new[0] if new else 0
        return f"@@ -{old_start},{len(old)} +{new_start},{len(new)} @@"

    @property
    def split_rows(self) -> list[SplitRow]:
        rows: list[SplitRow] = []
        removed: list[Line] = []
        added: list[Line] = []

        def flush() -> None:
            for index in range(max(len(removed), len(added))):
                rows.append(
                    SplitRow(
                        removed[index] if index < len(removed) else None,
                        added[index] if index < len(added) else None,
                    )
                )
            removed.clear()
            added.clear()

        for line in self.lines:
            if line.kind == "del":
                if added:
                    flush()
                removed.append(line)
            elif line.kind == "add":
                added.append(line)
            else:
                flush()
                rows.append(SplitRow(line, line))
        flush()
        return rows


def _css_class(token: _TokenType) -> str:
    found: _TokenType | None = token
    while found is not None and found not in STANDARD_TYPES:
        found = found.parent
    return STANDARD_TYPES[found] if found is not None else ""


def _lines(code: str) -> list[str]:
    """Lines as Pygments sees them: split at newlines only (not at form feeds or U+2028,
    as `str.splitlines` would), so the text and highlighted lines always pair up."""
    text = code.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def highlighted_lines(code: str) -> list[SafeString]:
    """Each line of `code` as highlighted HTML (Pygments' classes, escaped text)."""
    lines: list[list[str]] = [[]]
    for token, value in PythonLexer(stripnl=False, ensurenl=False).get_tokens(code):
        css = _css_class(token)
        for index, part in enumerate(value.split("\n")):
            if index:
                lines.append([])
            if part:
                text = escape(part)
                lines[-1].append(f'<span class="{css}">{text}</span>' if css else text)
    count = len(_lines(code))
    lines += [[] for _ in range(count - len(lines))]
    return [mark_safe("".join(parts)) for parts in lines[:count]]


def blocks(original: str, patched: str, context: int = CONTEXT_LINES) -> list[Block]:
    """The whole file as hunks with `context` lines around changes, the rest folded."""
    old_lines, new_lines = _lines(original), _lines(patched)
    old_html, new_html = highlighted_lines(original), highlighted_lines(patched)
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    opcodes = matcher.get_opcodes()
    result: list[Block] = []

    def add(folded: bool, line: Line) -> None:
        if not result or result[-1].folded != folded:
            result.append(Block(folded))
        result[-1].lines.append(line)

    for position, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            first, last = position == 0, position == len(opcodes) - 1
            keep_before = 0 if first else context  # after the previous change
            keep_after = 0 if last else context  # before the next change
            length = i2 - i1
            for offset in range(length):
                folded = keep_before <= offset < length - keep_after
                line = Line("context", i1 + offset + 1, j1 + offset + 1, new_html[j1 + offset])
                add(folded, line)
            continue
        for i in range(i1, i2):
            add(False, Line("del", i + 1, None, old_html[i]))
        for j in range(j1, j2):
            add(False, Line("add", None, j + 1, new_html[j]))
    return result
