"""One way to write numbers and times on every page: grouped digits, "just now"."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from sessions_app.costs import UsageTotals, format_usd

register = template.Library()


@register.filter
def grouped(value: object) -> str:
    """13627 -> "13,627"."""
    try:
        return f"{int(str(value)):,}"
    except ValueError:
        return str(value)


@register.filter
def ago(moment: datetime | None) -> str:
    """ "just now" under a minute, else "5 minutes ago"."""
    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def usd(cost: Decimal | None) -> str:
    """0.0123456 -> "$0.0123"; "" for no cost (a model without a price)."""
    return "" if cost is None else format_usd(Decimal(cost))


@register.filter
def usage_text(usage: UsageTotals) -> str:
    """ "13,627 tokens · $0.0123", the cost left out when nothing had a price."""
    text = f"{usage.total_tokens:,} tokens"
    return f"{text} · {usage.cost_text}" if usage.cost_text else text


@register.filter
def get_item(mapping: dict[Any, Any] | None, key: Any) -> Any:
    return (mapping or {}).get(key)
