"""Running behaviour cases: one case on one version of the code, and before and after.

A case runs as a trial (`trials.runs.run_to_end`, origin `case`): its checks read the
trial's final output and spans (`cases.expectations`), its rubric goes to the judge
(`cases.judge`). Before and after a change, each case runs on the base code and on the
patched code; the base side is kept per (base commit, case version) and reused, as the
tests' base results are. Each pair gets an outcome: `unchanged-pass`,
`unchanged-fail`, `fixed`, `regressed` or `error`.

A budget (requests and dollars, `BEHAVIOUR_MAX_REQUESTS`, `BEHAVIOUR_MAX_COST_USD`)
bounds what one run of the cases may spend; each case's trial is given what is left,
and once it is spent the remaining cases are `error`, saying so.
"""

import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings

from cases import expectations, judge
from cases.models import BehaviourCase, CaseResult
from sessions_app import events
from testruns import sandbox
from trials import runs as trials
from trials.models import Trial, TrialSpan
from vibegrapher.lib.background import in_thread

logger = logging.getLogger(__name__)

Outcome = Literal["unchanged-pass", "unchanged-fail", "fixed", "regressed", "error"]


@dataclass(frozen=True)
class Case:
    """What a run needs of a case, read once (the row may change meanwhile)."""

    id: uuid.UUID
    name: str
    input: str
    entry: str
    expectations: list[dict[str, Any]]
    rubric: str
    version: int

    @classmethod
    def of(cls, case: BehaviourCase) -> "Case":
        return cls(
            case.id, case.name, case.input, case.entry, list(case.expectations),
            case.rubric, case.version,
        )  # fmt: skip


@dataclass
class Budget:
    """What one run of the cases may still spend."""

    max_requests: int = field(default_factory=lambda: int(settings.BEHAVIOUR_MAX_REQUESTS))
    max_cost: Decimal = field(default_factory=lambda: Decimal(str(settings.BEHAVIOUR_MAX_COST_USD)))
    requests: int = 0
    cost: Decimal = Decimal(0)

    def exhausted(self) -> str:
        """Which limit is spent, as a person can act on it, or ""."""
        if self.requests >= self.max_requests:
            return (
                f"the behaviour budget of {self.max_requests} model requests is spent "
                "(BEHAVIOUR_MAX_REQUESTS)"
            )
        if self.cost >= self.max_cost:
            return f"the behaviour budget of ${self.max_cost} is spent (BEHAVIOUR_MAX_COST_USD)"
        return ""

    def limits(self) -> trials.Limits:
        return trials.Limits(self.max_requests - self.requests, self.max_cost - self.cost)

    def spend(self, requests: int, cost: Decimal) -> None:
        self.requests += requests
        self.cost += cost


def outcome(base: str | None, patched: str) -> Outcome:
    if base is None or "error" in (base, patched):
        return "error"
    if base == patched:
        return "unchanged-pass" if patched == "passed" else "unchanged-fail"
    return "fixed" if patched == "passed" else "regressed"


@in_thread
def _cached_base(case: Case, commit: str) -> CaseResult | None:
    """The case's result on this base commit at this version, if it was run (and not an error)."""
    if not commit:
        return None
    return (
        CaseResult.objects.filter(
            case_id=case.id, side=Trial.Side.BASE, commit=commit, case_version=case.version
        )
        .exclude(status=CaseResult.Status.ERROR)
        .order_by("-created_at")
        .first()
    )


@in_thread
def _spans(trial_id: uuid.UUID) -> list[dict[str, Any]]:
    return [
        dict(row)
        for row in TrialSpan.objects.filter(trial_id=trial_id).values("type", "name", "data")
    ]


@in_thread
def _store(result: CaseResult) -> CaseResult:
    result.save()
    return result


def _trial_failure(trial: Trial) -> CaseResult.Status:
    """A trial that did not complete: the workflow's failure (`failed`), or one that says
    nothing of the workflow (`error`: a budget, the sandbox, a restart, a cancel)."""
    if trial.status == Trial.Status.CANCELLED or trial.error.startswith("Budget reached"):
        return CaseResult.Status.ERROR
    if trial.error in (trials.RESTARTED, trials.OWNER_DIED) or "could not be run" in trial.error:
        return CaseResult.Status.ERROR
    return CaseResult.Status.FAILED


async def run_case(
    case: Case,
    user_id: int,
    project_id: uuid.UUID,
    version: trials.CodeVersion,
    budget: Budget,
    *,
    session_id: uuid.UUID | None = None,
) -> CaseResult:
    """A new run of the case on `version`, checked, stored and emitted."""
    result = CaseResult(
        case_id=case.id,
        project_id=project_id,
        diff_id=version.diff_id,
        side=version.side,
        commit=version.commit,
        case_version=case.version,
        status=CaseResult.Status.ERROR,
    )
    spent = budget.exhausted()
    if spent:
        result.error = f"Not run: {spent}."
        return await _finish(result, case, session_id)
    try:
        trial = await trials.run_to_end(
            user_id, project_id, version, case.input, pick=case.entry or None,
            limits=budget.limits(),
        )  # fmt: skip
    except (trials.TrialRefused, sandbox.SandboxUnavailable) as exc:
        result.error = f"Not run: {exc}"
        return await _finish(result, case, session_id)
    budget.spend(trial.requests, trial.cost_usd)
    result.trial_id = trial.id
    result.final_output = trial.final_output
    result.cost_usd = trial.cost_usd
    if trial.status != Trial.Status.COMPLETED:
        result.status = _trial_failure(trial)
        result.error = trial.error
        return await _finish(result, case, session_id)
    spans = await _spans(trial.id)
    run = expectations.run_of(trial.final_output, spans)
    checks = expectations.check_all(case.expectations, run)
    result.status = CaseResult.Status.PASSED
    if case.rubric:
        try:
            verdict = await judge.judge(case.rubric, case.input, trial.final_output)
        except Exception as exc:
            logger.warning("the judge failed on case %s: %s", case.id, exc)
            result.status = CaseResult.Status.ERROR
            result.error = f"The judge failed: {exc}"
        else:
            budget.spend(1, verdict.cost)
            result.cost_usd += verdict.cost
            result.judge_passed, result.judge_reason = verdict.passed, verdict.reason
            checks.append(
                expectations.Check(
                    kind="rubric",
                    expected=case.rubric,
                    passed=verdict.passed,
                    detail=verdict.reason,
                )
            )
    result.checks = list(checks)
    if result.status == CaseResult.Status.PASSED and not all(c["passed"] for c in checks):
        result.status = CaseResult.Status.FAILED
    return await _finish(result, case, session_id)


async def _finish(result: CaseResult, case: Case, session_id: uuid.UUID | None) -> CaseResult:
    stored = await _store(result)
    await events.emit(
        stored.project_id,
        events.case_result_event(
            case_id=case.id,
            case_name=case.name,
            diff_id=stored.diff_id,
            session_id=session_id,
            side=stored.side,
            status=stored.status,
            trial_id=stored.trial_id,
            final_output=stored.final_output,
            judge_passed=stored.judge_passed,
            judge_reason=stored.judge_reason,
            error=stored.error,
        ),
    )
    return stored


@dataclass(frozen=True)
class Pair:
    """A case before and after a change."""

    case: Case
    base: CaseResult | None
    patched: CaseResult
    # The base result was kept from an earlier run (its cost was counted there).
    base_reused: bool = False

    @property
    def outcome(self) -> Outcome:
        return outcome(self.base.status if self.base else None, self.patched.status)


async def run_before_after(
    cases: list[Case],
    user_id: int,
    project_id: uuid.UUID,
    base: trials.CodeVersion | None,
    patched: trials.CodeVersion,
    budget: Budget,
    *,
    session_id: uuid.UUID | None = None,
) -> list[Pair]:
    """Each case on the base code (kept from before when it can be) and on the patched
    code, one after the other (each is a sandbox and model calls)."""
    pairs = []
    for case in cases:
        before = await _cached_base(case, base.commit) if base is not None else None
        reused = before is not None
        if base is not None and before is None:
            before = await run_case(case, user_id, project_id, base, budget, session_id=session_id)
        after = await run_case(case, user_id, project_id, patched, budget, session_id=session_id)
        pairs.append(Pair(case, before, after, reused))
    return pairs


def table(pairs: list[Pair]) -> str:
    """The before/after table as the VibeCoder and the Evaluator read it."""
    lines = ["| case | before | after | outcome |", "|---|---|---|---|"]
    for pair in pairs:
        before = pair.base.status if pair.base else "not run"
        lines.append(f"| {pair.case.name} | {before} | {pair.patched.status} | {pair.outcome} |")
    return "\n".join(lines)


def summary(pair: Pair) -> dict[str, object]:
    """A pair as a diff keeps it (`Diff.behaviour_results`) and the API shows it."""
    return {
        "case_id": str(pair.case.id),
        "name": pair.case.name,
        "outcome": pair.outcome,
        "status": pair.patched.status,
        "base_status": pair.base.status if pair.base else None,
        "patched_result_id": str(pair.patched.id),
        "base_result_id": str(pair.base.id) if pair.base else None,
    }


def cost_of(pairs: list[Pair]) -> Decimal:
    """What running these pairs cost now (a base result kept from before cost nothing)."""
    total = Decimal(0)
    for pair in pairs:
        total += pair.patched.cost_usd
        if pair.base is not None and not pair.base_reused:
            total += pair.base.cost_usd
    return total
