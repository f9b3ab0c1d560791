"""A diff's behaviour cases, before and after: started from the API or the review page.

`start` answers at once and leaves the run to a task of this process (one at a time
per diff here); each result is emitted as `case_result` as it comes, and the pairs
are kept on the diff (`behaviour_results`, `behaviour_cost_usd`) when all have run.
The loop's own before/after (`cases.loop`) lands on the diff the same way.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from cases import runs
from cases.models import BehaviourCase, CaseResult
from projects.git import repository as git
from reviews.models import Diff
from trials import runs as trials
from trials.models import Trial
from vibegrapher.lib.background import BackgroundTasks, in_thread

_running = BackgroundTasks("diff-cases")


class CasesRunning(Exception):
    """The diff's cases are already running in this process."""


class NoCases(Exception):
    """The project has no behaviour case."""


@dataclass(frozen=True)
class Planned:
    diff_id: uuid.UUID
    project_id: uuid.UUID
    owner_id: int
    cases: list[runs.Case]
    base: trials.CodeVersion | None
    patched: trials.CodeVersion


@in_thread
def _plan(diff_id: uuid.UUID) -> Planned:
    diff = Diff.objects.select_related("project").get(id=diff_id)
    project = diff.project
    cases = [runs.Case.of(case) for case in BehaviourCase.objects.filter(project=project)]
    if not cases:
        raise NoCases(
            f"The project has no behaviour cases: add one with POST "
            f"/api/projects/{project.id}/cases, then run them again."
        )
    try:
        code = git.read_file_at(project.slug, project.main_file, diff.base_commit)
        base = trials.CodeVersion(code, diff.base_commit, diff.id, Trial.Side.BASE)
    except git.GitError:
        base = None  # the base commit is gone: no "before"
    patched = trials.CodeVersion(diff.patched_code, "", diff.id, Trial.Side.PATCHED)
    return Planned(diff.id, project.id, project.owner_id, cases, base, patched)


@in_thread
def keep_on_diff(diff_id: uuid.UUID, pairs: list[runs.Pair]) -> None:
    """The pairs as the diff keeps them; their results are linked to it."""
    ids = [r.id for p in pairs for r in (p.base, p.patched) if r is not None and r.diff_id is None]
    CaseResult.objects.filter(id__in=ids, side=Trial.Side.PATCHED).update(diff_id=diff_id)
    Diff.objects.filter(id=diff_id).update(
        behaviour_results=[runs.summary(pair) for pair in pairs],
        behaviour_cost_usd=runs.cost_of(pairs),
    )


async def start(diff: Diff) -> list[runs.Case]:
    """Start running the diff's cases; answers before they run. Raises NoCases or
    CasesRunning."""
    if _running.get(diff.id) is not None:
        raise CasesRunning("The behaviour cases of this diff are already running.")
    planned = await _plan(diff.id)
    _running.start(planned.diff_id, _run(planned))
    return planned.cases


def running_task(diff_id: uuid.UUID) -> Any:
    return _running.get(diff_id)


async def _run(planned: Planned) -> None:
    pairs = await runs.run_before_after(
        planned.cases, planned.owner_id, planned.project_id, planned.base, planned.patched,
        runs.Budget(),
    )  # fmt: skip
    await keep_on_diff(planned.diff_id, pairs)
