"""Behaviour cases in the loop: a patch that passes its checks and quick tests runs the
project's in-loop cases, on the base and on the patched code, before the Evaluator.

A regression (a case that passes on the base and not on the patch) goes back to the
VibeCoder as `submit_patch`'s result, with what the patched workflow answered and why
the case failed, and costs no Evaluator round; otherwise the Evaluator reads the
before/after table. The run's behaviour budget (`cases.runs.Budget`, across its
rounds) bounds what the cases spend: once it is spent, the cases not run say so
(`case_result` with the reason) and the patch goes on to the Evaluator with what it
has. The cases run in `cases.runs`.
"""

import logging
import uuid
from dataclasses import dataclass, field

from agents_app import all_agents
from agents_app.run_state import VibecodeRun
from cases import runs as cases
from cases.models import BehaviourCase
from projects.models import Project
from trials import runs as trials
from trials.models import Trial
from vibegrapher.lib.background import in_thread

logger = logging.getLogger(__name__)

ANSWER_CHARS = 1500


@dataclass
class LoopCases:
    pairs: list[cases.Pair] = field(default_factory=list)
    # Why some or all cases did not run (the budget), "" when all did.
    note: str = ""

    @property
    def regressions(self) -> list[cases.Pair]:
        return [pair for pair in self.pairs if pair.outcome == "regressed"]


@in_thread
def _in_loop(project_id: uuid.UUID) -> tuple[list[cases.Case], int]:
    found = [
        cases.Case.of(c) for c in BehaviourCase.objects.filter(project_id=project_id, in_loop=True)
    ]
    owner = Project.objects.values_list("owner_id", flat=True).get(id=project_id)
    return found, owner


async def run_loop_cases(run: VibecodeRun, patched_code: str) -> LoopCases | None:
    """The in-loop cases on `patched_code` against the run's base; None when the project
    has none (the patch step goes on as if cases did not exist)."""
    in_loop, owner_id = await _in_loop(run.project_id)
    if not in_loop:
        return None
    if run.behaviour_budget is None:
        run.behaviour_budget = cases.Budget()
    budget = run.behaviour_budget
    base = trials.CodeVersion(run.original_code, run.base_commit, None, Trial.Side.BASE)
    patched = trials.CodeVersion(patched_code, "", None, Trial.Side.PATCHED)
    try:
        pairs = await cases.run_before_after(
            in_loop, owner_id, run.project_id, base, patched, budget, session_id=run.session_id
        )
    except Exception as exc:  # the cases must not stop the person's run
        logger.warning("behaviour cases not run session=%s: %s", run.session_id, exc)
        return LoopCases(note=f"not run: {exc}")
    return LoopCases(pairs, note=budget.exhausted())


def _failed_checks(pair: cases.Pair) -> str:
    result = pair.patched
    failed = [c for c in result.checks if not c["passed"]]
    lines = [
        f"  - expected: {c['expected']}" + (f" ({c['detail']})" if c["detail"] else "")
        for c in failed
    ]
    if result.error:
        lines.append(f"  - the run: {result.error}")
    return "\n".join(lines)


def regression_feedback(notes: str, found: LoopCases) -> str:
    """`submit_patch`'s answer to a patch that breaks a behaviour case: which, what the
    patched workflow answered, and why it fails."""
    broken = found.regressions
    count = "a behaviour case" if len(broken) == 1 else f"{len(broken)} behaviour cases"
    parts = [
        f"{notes}The patch was not reviewed: it breaks {count} that the current workflow "
        "passes (each case ran the workflow on its input, before and after your patch)."
    ]
    for pair in broken:
        answer = (pair.patched.final_output or "(no answer)")[:ANSWER_CHARS]
        parts.append(
            f"\nCase {pair.case.name!r}, input: {pair.case.input!r}\n"
            f"The patched workflow answered: {answer}\n"
            f"What failed:\n{_failed_checks(pair)}"
        )
    parts.append(
        f"\nBefore and after, every in-loop case:\n{cases.table(found.pairs)}\n\n"
        f"Fix the patch so these cases pass again and call {all_agents.SUBMIT_PATCH} "
        "again with a diff against the file exactly as shown."
    )
    return "\n".join(parts)


def evaluator_section(found: LoopCases | None) -> str:
    """What the Evaluator reads about the behaviour cases ("" when there are none)."""
    if found is None:
        return ""
    note = f" Some did not run: {found.note}." if found.note else ""
    if not found.pairs:
        return f"\nBehaviour cases:{note or ' none run.'}\n"
    return (
        "\nBehaviour cases, each the workflow run on its input with the current file "
        f"(before) and the patched file (after):{note}\n{cases.table(found.pairs)}\n"
    )


def refusal_detail(found: LoopCases) -> str:
    names = ", ".join(f"“{pair.case.name}”" for pair in found.regressions)
    count = "a behaviour case" if len(found.regressions) == 1 else "behaviour cases"
    return f"The patch breaks {count} the current workflow passes: {names}."
