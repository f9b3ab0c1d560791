"""Logs reach stdout as one line per event, tracebacks included."""

import io
import logging

from vibegrapher.lib.logformat import OneLineFormatter


def test_an_exception_is_logged_on_one_line() -> None:
    # The handler LOGGING configures for stdout, pointed at a buffer for the test.
    handler = next(
        h for h in logging.getLogger().handlers if isinstance(h.formatter, OneLineFormatter)
    )
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    stdout = handler.setStream(buffer)
    try:
        try:
            raise ValueError("first line\nsecond line")
        except ValueError:
            logging.getLogger("vibegrapher.tests").exception("commit failed for %s", "shop")
    finally:
        handler.setStream(stdout)

    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1
    assert " ERROR vibegrapher.tests commit failed for shop\\nTraceback" in lines[0]
    assert "ValueError: first line\\nsecond line" in lines[0]
