"""What sessions_app tells the apps above it, which it does not import.

- `sessions_read` is sent before the API reads sessions (lists or fetches them), so
  that their run states are current: agents_app marks the runs whose server went
  silent as interrupted.
- `session_deleting` is sent before a session (`session`) is deleted. A receiver
  raises `SessionBusy` to refuse (a run is going), or else lets go of what it keeps
  for the session (agents_app: the agents' memory of it).
"""

from django.dispatch import Signal

sessions_read = Signal()
session_deleting = Signal()


class SessionBusy(Exception):
    """The session cannot be deleted now: a run is going in it."""
