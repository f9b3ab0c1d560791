"""A case run on the project's current code (HEAD), from the project page or the API:
answered at once, the result emitted as `case_result` and shown with the case."""

import uuid

from cases import runs
from cases.models import BehaviourCase
from projects.models import Project
from trials import runs as trials
from trials.models import Trial
from vibegrapher.lib.background import BackgroundTasks, in_thread

_running = BackgroundTasks("head-cases")


class CaseRunning(Exception):
    """This case is already running here."""


@in_thread
def _plan(case_id: uuid.UUID) -> tuple[runs.Case, int, uuid.UUID, trials.CodeVersion]:
    case = BehaviourCase.objects.get(id=case_id)
    project = Project.objects.get(id=case.project_id)
    version = trials.CodeVersion(
        project.current_code, project.current_commit, None, Trial.Side.HEAD
    )
    return runs.Case.of(case), project.owner_id, project.id, version


async def start(case_id: uuid.UUID) -> None:
    if _running.get(case_id) is not None:
        raise CaseRunning("This case is already running; its result is on its way.")
    case, owner_id, project_id, version = await _plan(case_id)
    _running.start(case_id, _run(case, owner_id, project_id, version))


async def _run(
    case: runs.Case, owner_id: int, project_id: uuid.UUID, version: trials.CodeVersion
) -> None:
    await runs.run_case(case, owner_id, project_id, version, runs.Budget())


def running_task(case_id: uuid.UUID) -> object:
    return _running.get(case_id)
