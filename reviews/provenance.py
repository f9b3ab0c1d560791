"""How a reviewed change came about, written into its commit as git trailers.

`git log` alone then tells, for every commit made through the review, which diff
and session it came from, in which round the Evaluator approved it, which models
wrote and reviewed it, what they used and cost, and how its tests ended:

    Vibegrapher-Diff: 0c5e…
    Vibegrapher-Session: 9a41…
    Evaluator: approved in round 2 of 3
    Models: gpt-5 (VibeCoder), gpt-5-mini (Evaluator)
    Tokens: 12,345 (cached 4,096)
    Cost: $0.0123
    Tests: 5 passed, 0 regressed
    Behaviour: 3 passed, 0 regressed

The tokens and cost are those of every run of the change: the run that produced the
diff (every model call sharing its trace id), and each earlier run whose diff a person
rejected and whose feedback led to it (`Diff.previous`), with the commit-message
refinements asked for any of them. When there was more than one run the trailers say
so: `Evaluator: approved in round 1 of 3 of run 2 (after 1 rejected diff)`,
`Tokens: … over 2 runs`, `Cost: $0.0105 over 2 runs`. The cost includes what running
the diff's behaviour cases cost (their trials and the judge), and says so:
`Cost: $0.0150 (behaviour cases $0.0030)`.
"""

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Max, Q, QuerySet

from projects.git.trailers import SESSION_TRAILER
from reviews.models import Diff
from sessions_app.costs import UsageTotals, format_usd, totals_of
from sessions_app.models import ConversationMessage

# As the pages name the agents.
AGENT_NAMES = {
    "vibecoder": "VibeCoder",
    "evaluator": "Evaluator",
    "refiner": "Commit message refiner",
}
FINISHED = ("passed", "failed", "error", "timeout")


def diff_messages(diff: Diff) -> QuerySet[ConversationMessage]:
    """The model calls behind the diff: its run's, and its refinements'."""
    linked = ConversationMessage.objects.filter(diff=diff)
    traces = set(linked.exclude(iteration=None).values_list("trace_id", flat=True)) - {""}
    return ConversationMessage.objects.filter(
        Q(session_id=diff.session_id, trace_id__in=traces) | Q(diff=diff),
        role=ConversationMessage.Role.ASSISTANT,
    )


# A chain longer than this is cut (each rejection makes one link; no person goes near).
MAX_ITERATIONS = 1000


def iterations(diff: Diff) -> list[Diff]:
    """The diffs of one change, oldest first, ending with `diff`: each earlier one was
    rejected by a person, and its feedback started the run of the next."""
    chain = [diff]
    seen = {diff.id}
    while chain[0].previous_id is not None and len(chain) < MAX_ITERATIONS:
        earlier = Diff.objects.filter(id=chain[0].previous_id).first()
        if earlier is None or earlier.id in seen:
            break
        seen.add(earlier.id)
        chain.insert(0, earlier)
    return chain


def change_messages(chain: list[Diff]) -> QuerySet[ConversationMessage]:
    """The model calls behind every diff of the chain, each counted once."""
    ids: set[object] = set()
    for diff in chain:
        ids.update(diff_messages(diff).values_list("id", flat=True))
    return ConversationMessage.objects.filter(id__in=ids)


def approving_round(diff: Diff) -> int | None:
    """The round of the Evaluator's approval (its message is linked to the diff)."""
    found: int | None = (
        ConversationMessage.objects.filter(diff=diff, agent=ConversationMessage.Agent.EVALUATOR)
        .exclude(iteration=None)
        .aggregate(round=Max("iteration"))["round"]
    )
    return found


def evaluator_trailer(diff: Diff, runs: int = 1) -> str:
    """The approving round; with `runs` > 1, which run it was and the rejections before."""
    found = approving_round(diff)
    text = (
        "approved (round not recorded)"
        if found is None
        else f"approved in round {found} of {settings.VIBECODE_MAX_ROUNDS}"
    )
    if runs <= 1:
        return text
    rejected = runs - 1
    return f"{text} of run {runs} (after {rejected} rejected diff{'s' if rejected > 1 else ''})"


def over_runs(text: str, runs: int) -> str:
    """ "… over 2 runs" when the figures cover more than the final run."""
    return text if runs <= 1 else f"{text} over {runs} runs"


def models_trailer(usage: UsageTotals) -> str:
    named = [
        f"{model} ({AGENT_NAMES.get(agent, agent)})"
        for agent in ("vibecoder", "evaluator", *sorted(set(usage.models) - set(AGENT_NAMES)))
        for model in usage.models.get(agent, [])
    ]
    return ", ".join(named) or "none recorded"


def tokens_trailer(usage: UsageTotals) -> str:
    return f"{usage.total_tokens:,} (cached {usage.cached_tokens:,})"


def cost_trailer(usage: UsageTotals) -> str:
    if usage.cost is None:
        if usage.total_tokens:
            return "unknown (no price for these models)"
        return format_usd(Decimal(0))
    if usage.unpriced_tokens:
        return f"{format_usd(usage.cost)} + {usage.unpriced_tokens:,} tokens without a price"
    return format_usd(usage.cost)


def tests_trailer(results: list[dict[str, Any]] | None) -> str:
    """ "5 passed, 0 regressed"; failures that are not regressions are named too."""
    finished = [r for r in results or [] if isinstance(r, dict) and r.get("status") in FINISHED]
    if not finished:
        return "none run"
    passed = sum(1 for r in finished if r.get("status") == "passed")
    regressed = sum(1 for r in finished if r.get("outcome") == "regressed")
    failed = len(finished) - passed - regressed
    parts = [f"{passed} passed"] + ([f"{failed} failed"] if failed > 0 else [])
    return ", ".join([*parts, f"{regressed} regressed"])


def behaviour_trailer(results: list[dict[str, Any]] | None) -> str:
    """ "3 passed, 0 regressed", as the tests' trailer; cases that failed before and
    after, or could not run, are named too."""
    rows = [r for r in results or [] if isinstance(r, dict)]
    if not rows:
        return "none run"
    passed = sum(1 for r in rows if r.get("status") == "passed")
    regressed = sum(1 for r in rows if r.get("outcome") == "regressed")
    errors = sum(1 for r in rows if r.get("status") == "error")
    failed = len(rows) - passed - regressed - errors
    parts = [f"{passed} passed"] + ([f"{failed} failed"] if failed > 0 else [])
    parts += [f"{errors} not run"] if errors else []
    return ", ".join([*parts, f"{regressed} regressed"])


def with_behaviour_cost(text: str, usage: UsageTotals, behaviour: Decimal) -> str:
    """The Cost trailer with the behaviour cases' cost added in, and said."""
    if not behaviour or usage.cost is None:
        return text
    total = cost_trailer(
        UsageTotals(cost=usage.cost + behaviour, unpriced_tokens=usage.unpriced_tokens)
    )
    return f"{total} (behaviour cases {format_usd(behaviour)})"


def commit_trailers(diff: Diff) -> list[tuple[str, str]]:
    """The trailers after `Vibegrapher-Diff` on the diff's commit: the usage figures
    cover every run of the change (the rejected diffs' too)."""
    chain = iterations(diff)
    usage = totals_of(change_messages(chain))
    runs = len(chain)
    cost = with_behaviour_cost(cost_trailer(usage), usage, diff.behaviour_cost_usd)
    trailers = [
        (SESSION_TRAILER, str(diff.session_id)),
        ("Evaluator", evaluator_trailer(diff, runs)),
        ("Models", models_trailer(usage)),
        ("Tokens", over_runs(tokens_trailer(usage), runs)),
        ("Cost", over_runs(cost, runs)),
        ("Tests", tests_trailer(diff.test_results)),
    ]
    if diff.behaviour_results is not None:  # the project has behaviour cases, and they ran
        trailers.append(("Behaviour", behaviour_trailer(diff.behaviour_results)))
    return trailers
