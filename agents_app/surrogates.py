"""Lone surrogates (`\\ud800`: legal in JSON escapes, not encodable as UTF-8) found and
replaced in model output, wherever it goes: the SDK's items (model_guard), live
deltas (live), stored messages (recording) and error texts (errors).

Apart from model_guard and live so that neither needs the other for it.
"""

import json
import re
from typing import Any

from pydantic import BaseModel

SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
LONE_SURROGATE = re.compile(
    "[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]"
)
# The same, escaped in JSON text (a function call's arguments).
ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
REPLACEMENT = "\ufffd"


def join_pairs(text: str) -> str:
    """`text` with each UTF-16 surrogate pair read as the one character it encodes."""
    return SURROGATE_PAIR.sub(
        lambda pair: pair.group().encode("utf-16", "surrogatepass").decode("utf-16"), text
    )


def scrub(text: str) -> str:
    """`text` that encodes as UTF-8: surrogate pairs joined, lone surrogates U+FFFD."""
    if SURROGATE.search(text) is None:
        return text
    return LONE_SURROGATE.sub(REPLACEMENT, join_pairs(text))


def surrogate_position(text: str) -> str:
    """Where the first lone surrogate of `text` is, as a person counts it; "" if none."""
    match = LONE_SURROGATE.search(text)
    if match is None:
        return ""
    before = text[: match.start()]
    line = before.count("\n") + 1
    column = match.start() - (before.rfind("\n") + 1) + 1
    return f"line {line}, column {column} (U+{ord(match.group()):04X})"


def scrub_in_place(value: Any, found: dict[str, str], call_id: str = "") -> Any:
    """Replace lone surrogates in every string of a pydantic model, dict or list."""
    if isinstance(value, str):
        if ESCAPED_SURROGATE.search(value):
            fixed_json = _scrub_json(value, found, call_id)
            if fixed_json is not None:
                return fixed_json
        if SURROGATE.search(value) is None:
            return value
        joined = join_pairs(value)
        where = surrogate_position(joined)
        if where:
            found.setdefault(call_id, where)
        return scrub(joined)
    if isinstance(value, BaseModel):
        own_id = getattr(value, "call_id", None)
        item_call = own_id if isinstance(own_id, str) else call_id
        for name in list(type(value).model_fields) + list(value.model_extra or {}):
            current = getattr(value, name, None)
            fixed = scrub_in_place(current, found, item_call)
            if fixed is not current:
                setattr(value, name, fixed)
        return value
    if isinstance(value, dict):
        own_id = value.get("call_id")
        item_call = own_id if isinstance(own_id, str) else call_id
        for key, current in list(value.items()):
            fixed = scrub_in_place(current, found, item_call)
            if fixed is not current:
                value[key] = fixed
        return value
    if isinstance(value, list):
        for index, current in enumerate(value):
            fixed = scrub_in_place(current, found, call_id)
            if fixed is not current:
                value[index] = fixed
        return value
    return value


def _scrub_json(text: str, found: dict[str, str], call_id: str) -> str | None:
    """JSON text whose decoded strings had lone surrogates, re-encoded without them.

    The SDK decodes a function call's arguments (to fingerprint and to call the tool),
    so an escaped lone surrogate fails the run as surely as a raw one.
    """
    try:
        decoded = json.loads(text)
    except ValueError:
        return None
    inside: dict[str, str] = {}
    scrub_in_place(decoded, inside, call_id)
    if not inside:
        return None
    for key, where in inside.items():
        found.setdefault(key, where)
    return json.dumps(decoded, ensure_ascii=False)


def scrub_all(value: Any) -> Any:
    """`value` (a string, or a dict/list/model holding strings) without lone surrogates."""
    return scrub_in_place(value, {})
