"""agents_app's answers to what the apps below it announce (connected in apps.py).

Sessions are read: runs whose server went silent become `interrupted`. A session is
deleted: refused while its run goes on here, else the agents' memory of it goes too.
A diff is committed: the Evaluator starts the next change fresh (the VibeCoder keeps
its history).

`runs` is imported when a receiver is called: ready() connects these, and need not
load the whole run machinery (the SDK, the sandbox) to do so.
"""

from typing import Any

from asgiref.sync import async_to_sync

from reviews.models import Diff
from sessions_app.models import VibecodeSession
from sessions_app.signals import SessionBusy


def refresh_run_states(sender: Any, **kwargs: Any) -> None:
    from agents_app import runs

    runs.mark_interrupted_runs()


def release_session(sender: Any, session: VibecodeSession, **kwargs: Any) -> None:
    from agents_app import runs

    if runs.active_run(session.id) is not None:
        raise SessionBusy(str(session.id))
    async_to_sync(runs.clear_session_memory)(session)


def forget_evaluator(sender: Any, diff: Diff, **kwargs: Any) -> None:
    from agents_app import runs

    async_to_sync(runs.clear_evaluator_memory)(diff.session)
