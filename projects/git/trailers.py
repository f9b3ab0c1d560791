"""Git trailers: `Key: value` lines in the last paragraph of a commit message.

Written as git writes them (`git interpret-trailers`): the message, a blank line,
then one `Key: value` line each. Read back here rather than with pygit2's
`Commit.message_trailers`, which keeps only the last of repeated keys, leaves a
`\\r` on CRLF messages and finds nothing once the message has a line starting with
`---` (git takes that for the start of a patch). The rule read here is git's: the
last paragraph, when every line in it is a trailer (or the indented continuation of
one), is the trailer block.
"""

import re
from collections.abc import Iterable

# Vibegrapher's own trailer naming a commit's conversation (`Vibegrapher-Diff`, the
# diff, is `projects.git.repository.DIFF_TRAILER`).
SESSION_TRAILER = "Vibegrapher-Session"

# git's own rule for a key: letters, digits and hyphens.
_TRAILER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*?)[ \t]*$")


def _clean_value(value: object) -> str:
    """One line: a value never spreads into the lines around it."""
    return " ".join(str(value).split())


def with_trailers(message: str, trailers: Iterable[tuple[str, object]]) -> str:
    """The message, a blank line, then the trailers; ends with a newline like git's."""
    lines = []
    for key, value in trailers:
        if not _TRAILER.match(f"{key}: x"):
            raise ValueError(f"{key!r} is not a trailer key (letters, digits and hyphens).")
        lines.append(f"{key}: {_clean_value(value)}")
    text = message.replace("\r\n", "\n").rstrip()
    return f"{text}\n\n" + "\n".join(lines) + "\n" if lines else f"{text}\n"


def _paragraphs(message: str) -> list[list[str]]:
    paragraphs: list[list[str]] = [[]]
    for line in message.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def _parse_block(lines: list[str]) -> list[tuple[str, str]] | None:
    pairs: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t") and pairs:
            key, value = pairs[-1]
            pairs[-1] = (key, f"{value} {line.strip()}".strip())
            continue
        found = _TRAILER.match(line)
        if found is None:
            return None
        pairs.append((found.group(1), found.group(2)))
    return pairs


def split(message: str) -> tuple[str, list[tuple[str, str]]]:
    """The message without its trailer block, and the trailers in order.

    A one-paragraph message has no trailers (its subject is never read as one, even
    "fix: typo").
    """
    paragraphs = _paragraphs(message)
    if len(paragraphs) < 2:
        return message.strip(), []
    pairs = _parse_block(paragraphs[-1])
    if pairs is None:
        return message.strip(), []
    body = "\n\n".join("\n".join(p) for p in paragraphs[:-1])
    return body.strip(), pairs


def as_dict(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Trailers by key; a repeated key's values are joined by newlines, in order."""
    found: dict[str, str] = {}
    for key, value in pairs:
        found[key] = f"{found[key]}\n{value}" if key in found else value
    return found
