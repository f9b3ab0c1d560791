"""The one check for Python code that enters a project: its size, that it parses, and
how deeply it nests; and the one way its text is read.

A person's code (a project's file, a test case) goes through `validate_code` in the
serializers; the agents loop calls it on a patched file, so the limits and the
messages are the same wherever code arrives. Code is kept as Python reads a file:
`python_text` drops a leading byte-order mark and turns CRLF and CR line endings into
LF (universal newlines), `read_python_file` decodes an uploaded file's bytes the way the
interpreter does (BOM, coding line). What is stored in git is that text, in UTF-8.

The nesting limit keeps every reader of the code well inside Python's recursion limit:
the parser's own guard counts from the caller's stack depth, so code that parses in
one place could fail to parse (or to be unparsed, or compiled) deeper in a request.
"""

import ast
import codecs
import io
import tokenize

from django.conf import settings


class InvalidCode(ValueError):
    """Code that is too large, does not parse or nests too deeply; the message names
    the problem."""


def python_text(code: str) -> str:
    """`code` as Python reads it from a file: no leading BOM, LF line endings."""
    return _universal_newlines(code.removeprefix("\ufeff"))


def _universal_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def read_python_file(data: bytes, what: str = "The file") -> str:
    """An uploaded file's text as the interpreter reads it, else InvalidCode.

    A UTF-8 byte-order mark is dropped; a coding line (PEP 263) is honoured. Projects
    are stored in UTF-8, so a file in another declared encoding is taken only when its
    text is ASCII (the same bytes either way): otherwise the stored file would say one
    encoding and hold another.
    """
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        # Its first lines are not UTF-8 (and name no encoding: decoded below, to say
        # where), or its coding line names an unknown encoding or contradicts its BOM.
        encoding = "utf-8"
        if data.startswith(codecs.BOM_UTF8):
            refused = (
                f"{what} starts with a UTF-8 byte-order mark but its coding line names "
                "another encoding; remove the coding line."
            )
        else:
            refused = f"{what} has a coding line Python refuses: {exc.msg}."
    else:
        refused = ""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        named = "UTF-8" if encoding.startswith("utf-8") else encoding
        raise InvalidCode(
            f"{what} is not {named} text (byte {exc.start}); save it as UTF-8."
        ) from None
    if refused:
        raise InvalidCode(refused)
    if not encoding.startswith("utf-8") and not text.isascii():
        raise InvalidCode(
            f"{what} is in {encoding} (its coding line); projects are stored as UTF-8: "
            "save it as UTF-8 and change or remove the coding line."
        )
    return _universal_newlines(text)  # utf-8-sig dropped the BOM


def deepest(tree: ast.AST, limit: int) -> tuple[int, int]:
    """How deep the syntax tree goes and the line where it does, counting from the
    module; stops at the first node deeper than `limit`. Iterative: it is the guard."""
    depth_reached, line_reached = 0, 1
    stack: list[tuple[ast.AST, int, int]] = [(tree, 0, 1)]
    while stack:
        node, depth, line = stack.pop()
        line = getattr(node, "lineno", line)  # `arguments`, `comprehension`: their parent's
        if depth > depth_reached:
            depth_reached, line_reached = depth, line
            if depth > limit:
                break
        stack.extend((child, depth + 1, line) for child in ast.iter_child_nodes(node))
    return depth_reached, line_reached


def validate_code(code: str, what: str = "The code") -> None:
    """Raise InvalidCode unless `code` is at most MAX_CODE_BYTES of UTF-8, parses, and
    nests at most MAX_CODE_NESTING levels.

    `what` starts each message ("The patched agents.py"). The parser only sees code
    under the byte limit, and whatever it raises on hostile input becomes a message:
    deep nesting exhausts its recursion guard or its stack (RecursionError,
    MemoryError), a null byte is a ValueError.
    """
    try:
        size = len(code.encode())
    except UnicodeEncodeError as exc:
        raise InvalidCode(
            f"{what} contains a character that is not valid UTF-8 at position {exc.start} "
            "(a lone surrogate)."
        ) from None
    if size > settings.MAX_CODE_BYTES:
        raise InvalidCode(
            f"{what} is {size} bytes; the limit is {settings.MAX_CODE_BYTES} bytes "
            "(MAX_CODE_BYTES)."
        )
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        raise InvalidCode(f"{what} is not valid Python: {where}{exc.msg}.") from None
    except (RecursionError, MemoryError):
        raise InvalidCode(
            f"{what} is nested too deeply for the Python parser (too many nested "
            "brackets, unary operators, chained operations or attribute accesses)."
        ) from None
    except ValueError as exc:  # "source code string cannot contain null bytes"
        raise InvalidCode(f"{what} is not valid Python: {exc}.") from None
    limit = settings.MAX_CODE_NESTING
    depth, line = deepest(tree, limit)
    if depth > limit:
        raise InvalidCode(
            f"{what} nests more than {limit} levels deep at line {line} (brackets, calls, "
            "lambdas, operators, conditional expressions or blocks inside one another); "
            f"the limit is {limit} (MAX_CODE_NESTING). Give the inner parts names of "
            "their own."
        )
