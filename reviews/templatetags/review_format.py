"""One way to write numbers and times on every page: grouped digits, "just now"."""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

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
