"""What the API and the pages read of a project's cases and their results."""

from typing import Any

from cases import runs
from cases.models import BehaviourCase, CaseResult
from reviews.models import Diff
from trials.models import Trial


def result_json(result: CaseResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "id": str(result.id),
        "side": result.side,
        "commit": result.commit,
        "status": result.status,
        "final_output": result.final_output,
        "trial_id": str(result.trial_id) if result.trial_id else None,
        "checks": result.checks,
        "judge_passed": result.judge_passed,
        "judge_reason": result.judge_reason,
        "error": result.error,
        "cost_usd": float(result.cost_usd),
        "created_at": result.created_at.isoformat(),
    }


def _latest(results: Any) -> CaseResult | None:
    """The newest result that says something of the workflow, else the newest error."""
    ordered = results.order_by("-created_at")
    return ordered.exclude(status=CaseResult.Status.ERROR).first() or ordered.first()


def diff_table(diff: Diff) -> list[dict[str, Any]]:
    """Each case of the diff's project: its result on the diff's base and patched code
    (at the case's current version), and the outcome; null where it has not run."""
    rows = []
    for case in BehaviourCase.objects.filter(project_id=diff.project_id):
        at_version = CaseResult.objects.filter(case=case, case_version=case.version)
        patched = (
            at_version.filter(diff=diff, side=Trial.Side.PATCHED).order_by("-created_at").first()
        )
        base = _latest(at_version.filter(side=Trial.Side.BASE, commit=diff.base_commit))
        rows.append(
            {
                "case_id": str(case.id),
                "name": case.name,
                "in_loop": case.in_loop,
                "outcome": runs.outcome(base.status if base else None, patched.status)
                if patched
                else None,
                "base": result_json(base),
                "patched": result_json(patched),
            }
        )
    return rows


def latest_on_head(case: BehaviourCase) -> CaseResult | None:
    return (
        CaseResult.objects.filter(case=case, side=Trial.Side.HEAD).order_by("-created_at").first()
    )
