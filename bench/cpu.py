"""CPU time of a process and its descendants, read from /proc (Linux)."""

import os
from pathlib import Path


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and every descendant still running, all threads."""
    ticks = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue  # gone meanwhile
        ticks += int(fields[11]) + int(fields[12])
        pending += [int(child) for child in children]
    return ticks / os.sysconf("SC_CLK_TCK")
