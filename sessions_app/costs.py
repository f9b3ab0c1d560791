"""What model calls cost: per message (stored with it), per run, session and project.

A message's cost is priced once, when it is stored, from `settings.MODEL_PRICES`: a
later price change does not rewrite history. A model without a price (another
server's, or one removed from the table) stores no cost: its tokens are shown, and
sums say how many tokens they could not price.
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from sessions_app.model_prices import price_of
from sessions_app.models import ConversationMessage, VibecodeSession

MILLION = Decimal(1_000_000)
# Stored to the hundred-millionth of a dollar (the field's precision).
STORED = Decimal("0.00000001")


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def cost_of_usage(usage: Mapping[str, Any] | None) -> Decimal | None:
    """The dollars one response's usage cost, or None when its model has no price.

    The input count includes the cached tokens (as OpenAI reports it): those are
    priced at the cached rate, the rest at the input rate; reasoning tokens are part
    of the output count.
    """
    if not usage:
        return None
    price = price_of(settings.MODEL_PRICES, str(usage.get("model") or ""))
    if price is None:
        return None
    prompt = _count(usage, "prompt_tokens")
    cached = min(_count(usage, "cached_tokens"), prompt)
    output = _count(usage, "completion_tokens")
    dollars = (
        (prompt - cached) * price.input + cached * price.cached_input + output * price.output
    ) / MILLION
    return dollars.quantize(STORED, rounding=ROUND_HALF_UP)


def dollars(cost: Decimal | None) -> float | None:
    """A cost as JSON carries it (a number of dollars), None staying None."""
    return None if cost is None else float(cost)


def format_usd(cost: Decimal) -> str:
    """$0.0123: four decimals, as a bill would show a small amount; never "$0.0000"
    for a cost that is not zero."""
    if 0 < cost < Decimal("0.0001"):
        return "<$0.0001"
    return f"${cost.quantize(Decimal('0.0001'), rounding=ROUND_HALF_UP)}"


@dataclass
class UsageTotals:
    """Token counts and cost summed over messages; `cost` covers the priced ones."""

    messages: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal | None = None
    # Tokens of responses whose model had no price: not in `cost`.
    unpriced_tokens: int = 0
    # Models by agent label ("vibecoder": ["gpt-5"]), in order of first use.
    models: dict[str, list[str]] = field(default_factory=dict)

    def add(self, usage: Mapping[str, Any] | None, cost: Decimal | None, agent: str) -> None:
        if not usage:
            return
        self.messages += 1
        self.prompt_tokens += _count(usage, "prompt_tokens")
        self.cached_tokens += _count(usage, "cached_tokens")
        self.completion_tokens += _count(usage, "completion_tokens")
        total = _count(usage, "total_tokens")
        self.total_tokens += total
        if cost is None:
            self.unpriced_tokens += total
        else:
            self.cost = cost if self.cost is None else self.cost + cost
        model = str(usage.get("model") or "")
        if model:
            seen = self.models.setdefault(agent, [])
            if model not in seen:
                seen.append(model)

    def as_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": dollars(self.cost),
            "unpriced_tokens": self.unpriced_tokens,
        }

    @property
    def cost_text(self) -> str:
        """ "$0.0123", "$0.0123 + unpriced tokens", or "" when nothing had a price."""
        if self.cost is None:
            return ""
        return format_usd(self.cost) + (" + unpriced tokens" if self.unpriced_tokens else "")


def totals(rows: Iterable[tuple[Any, Decimal | None, str]]) -> UsageTotals:
    """Totals of (token_usage, cost_usd, agent) rows."""
    summed = UsageTotals()
    for usage, cost, agent in rows:
        summed.add(usage if isinstance(usage, Mapping) else None, cost, agent)
    return summed


def totals_of(messages: QuerySet[ConversationMessage]) -> UsageTotals:
    return totals(messages.values_list("token_usage", "cost_usd", "agent"))


@dataclass
class RunUsage:
    """One run's usage: the model calls sharing a trace id (a vibecode run, or one
    commit-message refinement), and the person's message that started it."""

    trace_id: str
    kind: str  # "vibecode" or "commit_message"
    started_at: Any
    request_message_id: uuid.UUID | None
    diff_id: uuid.UUID | None
    usage: UsageTotals

    def as_json(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "kind": self.kind,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "request_message_id": str(self.request_message_id) if self.request_message_id else None,
            "diff_id": str(self.diff_id) if self.diff_id else None,
            **self.usage.as_json(),
        }


def runs_of(session_messages: Iterable[ConversationMessage]) -> list[RunUsage]:
    """The runs of a session's messages (in created order), oldest first."""
    runs: dict[str, RunUsage] = {}
    last_request: uuid.UUID | None = None
    for message in session_messages:
        if message.role == ConversationMessage.Role.USER:
            last_request = message.id
            continue
        if not message.trace_id:
            continue
        run = runs.get(message.trace_id)
        if run is None:
            run = runs[message.trace_id] = RunUsage(
                trace_id=message.trace_id,
                kind="commit_message",
                started_at=message.created_at,
                request_message_id=last_request,
                diff_id=None,
                usage=UsageTotals(),
            )
        if message.iteration is not None:
            run.kind = "vibecode"
        if message.diff_id is not None:
            run.diff_id = message.diff_id
        run.usage.add(message.token_usage, message.cost_usd, message.agent)
    for run in runs.values():
        if run.kind == "commit_message":
            run.request_message_id = None  # asked from the review page, not the conversation
    return list(runs.values())


def session_usage(session: VibecodeSession) -> dict[str, Any]:
    """A session's totals and each of its runs' (the API's and the page's figures)."""
    messages = list(session.messages.order_by("created_at", "id"))
    summed = totals((m.token_usage, m.cost_usd, m.agent) for m in messages)
    return {
        "session_id": str(session.id),
        **summed.as_json(),
        "runs": [run.as_json() for run in runs_of(messages)],
    }


def project_usage(project_id: uuid.UUID) -> dict[str, Any]:
    """A project's totals, and each session's."""
    by_session: dict[uuid.UUID, UsageTotals] = {}
    rows = ConversationMessage.objects.filter(session__project_id=project_id).values_list(
        "session_id", "token_usage", "cost_usd", "agent"
    )
    summed = UsageTotals()
    for session_id, usage, cost, agent in rows.iterator():
        usage = usage if isinstance(usage, Mapping) else None
        summed.add(usage, cost, agent)
        by_session.setdefault(session_id, UsageTotals()).add(usage, cost, agent)
    sessions = VibecodeSession.objects.filter(project_id=project_id).order_by("created_at")
    return {
        "project_id": str(project_id),
        **summed.as_json(),
        "sessions": [
            {
                "session_id": str(s.id),
                "session_type": s.session_type,
                "node_id": s.node_id,
                **by_session.get(s.id, UsageTotals()).as_json(),
            }
            for s in sessions
        ],
    }


def totals_by_project(project_ids: list[uuid.UUID]) -> dict[uuid.UUID, UsageTotals]:
    """Each project's totals, in one query (the projects page)."""
    found: dict[uuid.UUID, UsageTotals] = {}
    rows = ConversationMessage.objects.filter(
        session__project_id__in=project_ids, token_usage__isnull=False
    ).values_list("session__project_id", "token_usage", "cost_usd", "agent")
    for project_id, usage, cost, agent in rows.iterator():
        found.setdefault(project_id, UsageTotals()).add(
            usage if isinstance(usage, Mapping) else None, cost, agent
        )
    return found
