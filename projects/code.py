"""The one check for Python code that enters a project: its size and that it parses.

A person's code (a project's file, a test case) goes through `validate_code` in the
serializers; the agents loop can call it on a patched file, so the limit and the
messages are the same wherever code arrives.
"""

import ast

from django.conf import settings


class InvalidCode(ValueError):
    """Code that is too large or does not parse; the message names the problem."""


def validate_code(code: str, what: str = "The code") -> None:
    """Raise InvalidCode unless `code` is at most MAX_CODE_BYTES of UTF-8 and parses.

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
        ast.parse(code)
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
