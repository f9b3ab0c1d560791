"""JSON request bodies with a bound on nesting, for the DRF views and the async views.

Python's JSON decoder recurses once per nesting level: a body of 100 000 `[` raises
RecursionError (a 500) instead of a parse error. Here anything the decoder cannot
nest, and anything nested deeper than MAX_JSON_DEPTH, is a 400 naming the limit.
"""

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json


class JSONTooDeep(ValueError):
    """A JSON document nested deeper than MAX_JSON_DEPTH."""

    def __init__(self) -> None:
        super().__init__(
            f"the JSON is nested deeper than {settings.MAX_JSON_DEPTH} levels (MAX_JSON_DEPTH)."
        )


def check_depth(data: Any) -> None:
    """Raise JSONTooDeep when `data` nests lists and dicts deeper than MAX_JSON_DEPTH.

    Iterative, so checking never recurses itself; the top-level value is level 1.
    """
    limit = settings.MAX_JSON_DEPTH
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            raise JSONTooDeep()
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def loads(body: str | bytes) -> Any:
    """Parse a JSON body strictly (no NaN or Infinity, as DRF); ValueError names the problem."""
    try:
        text = body.decode() if isinstance(body, bytes) else body
        data = json.loads(text, parse_constant=json.strict_constant)
    except RecursionError:
        raise JSONTooDeep() from None
    check_depth(data)
    return data


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSON parser, refusing with 400 what nests deeper than MAX_JSON_DEPTH."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - {JSONTooDeep()}") from None
        try:
            check_depth(data)
        except JSONTooDeep as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return data
