"""Crash points for the crash-safety tests: a real SIGKILL at a named instant.

`crash_point(name)` kills this process when `settings.FAULT_POINT` is `name`. The
setting is read from `VIBEGRAPHER_FAULT_POINT` only when DEBUG is on; production
settings (DEBUG off) always leave it empty, so a production server cannot be told
to crash. Tests start a real daphne with it set (see tests/system/test_crash_safety.py).
"""

import os
import signal

from django.conf import settings


def crash_point(name: str) -> None:
    if settings.FAULT_POINT and name == settings.FAULT_POINT:
        os.kill(os.getpid(), signal.SIGKILL)
