"""What reviews tells the apps above it, which it does not import.

`diff_committed` is sent once a diff's commit is in git and its rows are saved
(`diff`: the committed `Diff`); agents_app receives it to start the Evaluator fresh
on the next change.
"""

from django.dispatch import Signal

diff_committed = Signal()
