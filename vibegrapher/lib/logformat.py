"""Log records as single lines, so a log collector never splits one event in two."""

import logging


class OneLineFormatter(logging.Formatter):
    """The usual format, with newlines (tracebacks, multi-line messages) escaped as `\\n`."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")
