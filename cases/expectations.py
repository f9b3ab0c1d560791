"""What a behaviour case expects of an answer, and checking a trial against it.

Each expectation is a small JSON object with a `kind`:

| kind | fields | passes when |
|---|---|---|
| `output_contains` | `text` | the final output contains it (case ignored) |
| `output_not_contains` | `text` | it does not |
| `output_matches` | `pattern` | the pattern (Python `re` syntax) is found in it |
| `output_json_schema` | `schema` | it parses as JSON valid against the JSON Schema |
|   |   | (its keywords: `SCHEMA_KEYWORDS`) |
| `last_agent` | `agent` | the run ended with that agent |
| `tool_called` | `tool`, `arguments`? | the tool ran (with arguments matching that pattern) |
| `tool_not_called` | `tool` | it never ran |
| `handoff_path` | `agents` | the agents ran in exactly that order |

A pattern is matched with a time limit (`regex`), so a pattern that backtracks without
end fails its check instead of holding the server.
"""

import json
from dataclasses import dataclass
from typing import Any, TypedDict

import jsonschema
import regex

PATTERN_SECONDS = 0.5
MAX_EXPECTATIONS = 20
MAX_TEXT = 2000

KINDS: dict[str, tuple[str, ...]] = {
    "output_contains": ("text",),
    "output_not_contains": ("text",),
    "output_matches": ("pattern",),
    "output_json_schema": ("schema",),
    "last_agent": ("agent",),
    "tool_called": ("tool",),
    "tool_not_called": ("tool",),
    "handoff_path": ("agents",),
}
OPTIONAL: dict[str, tuple[str, ...]] = {"tool_called": ("arguments",)}


class Check(TypedDict):
    """One expectation's result on one run."""

    kind: str
    # What was expected, in words.
    expected: str
    passed: bool
    # What the run did instead (or "").
    detail: str


@dataclass(frozen=True)
class Run:
    """What a trial did, as the expectations read it."""

    final_output: str | None
    last_agent: str
    # Agent names in the order their spans started.
    agents: list[str]
    # (tool name, arguments JSON) in the order they ran.
    tools: list[tuple[str, str]]


def validate(expectations: Any) -> list[dict[str, Any]]:
    """The expectations, checked; raises ValueError saying what is wrong with which."""
    if not isinstance(expectations, list):
        raise ValueError("expectations must be a list of objects.")
    if len(expectations) > MAX_EXPECTATIONS:
        raise ValueError(f"At most {MAX_EXPECTATIONS} expectations a case.")
    checked = []
    for number, item in enumerate(expectations, 1):
        where = f"expectation {number}"
        if not isinstance(item, dict):
            raise ValueError(f"{where} is not an object.")
        kind = item.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {sorted(KINDS)}.")
        allowed = {"kind", *KINDS[kind], *OPTIONAL.get(kind, ())}
        extra = set(item) - allowed
        if extra:
            raise ValueError(f"{where} ({kind}): unknown fields {sorted(extra)}.")
        for field in KINDS[kind]:
            if field not in item:
                raise ValueError(f"{where} ({kind}) needs `{field}`.")
        _check_values(where, kind, item)
        checked.append(dict(item))
    return checked


def _check_text(where: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where} must be a non-empty string.")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{where} is over {MAX_TEXT} characters.")
    if "\x00" in value:
        raise ValueError(f"{where} holds a NUL character.")


def _check_values(where: str, kind: str, item: dict[str, Any]) -> None:
    for field in ("text", "agent", "tool", "pattern", "arguments"):
        if field in item:
            _check_text(f"{where} ({kind}): `{field}`", item[field])
    for field in ("pattern", "arguments"):
        if field in item:
            try:
                regex.compile(item[field])
            except regex.error as exc:
                raise ValueError(f"{where} ({kind}): `{field}` is not a pattern: {exc}.") from None
    if kind == "output_json_schema":
        schema = item["schema"]
        if not isinstance(schema, dict):
            raise ValueError(f"{where}: `schema` must be a JSON Schema object.")
        _check_schema_keywords(f"{where}: `schema`", schema)
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"{where}: `schema` is not a JSON Schema: {exc.message}.") from None
    if kind == "handoff_path":
        agents = item["agents"]
        if not (isinstance(agents, list) and agents):
            raise ValueError(f"{where}: `agents` must be a non-empty list of agent names.")
        for agent in agents:
            _check_text(f"{where}: each of `agents`", agent)


# The JSON Schema keywords an `output_json_schema` expectation may use (the OpenAPI
# document describes exactly these: cases/schema.py).
SCHEMA_KEYWORDS = {"type", "properties", "required", "items", "enum", "additionalProperties"}
JSON_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")


def _check_schema_keywords(where: str, schema: Any, depth: int = 0) -> None:
    if not isinstance(schema, dict):
        raise ValueError(f"{where}: each schema in it must be an object.")
    if depth > 10:
        raise ValueError(f"{where} is nested too deeply.")
    unknown = set(schema) - SCHEMA_KEYWORDS
    if unknown:
        taken = sorted(SCHEMA_KEYWORDS)
        raise ValueError(f"{where}: only the keywords {taken} are taken, not {sorted(unknown)}.")
    if "type" in schema and schema["type"] not in JSON_TYPES:
        raise ValueError(f"{where}: `type` must be one of {list(JSON_TYPES)}.")
    if "additionalProperties" in schema and not isinstance(schema["additionalProperties"], bool):
        raise ValueError(f"{where}: `additionalProperties` must be true or false.")
    required = schema.get("required", [])
    if not (isinstance(required, list) and all(isinstance(name, str) for name in required)):
        raise ValueError(f"{where}: `required` must be a list of property names.")
    if "enum" in schema and not isinstance(schema["enum"], list):
        raise ValueError(f"{where}: `enum` must be a list.")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ValueError(f"{where}: `properties` must be an object.")
    for name, inner in properties.items():
        _check_schema_keywords(f"{where} (property {name!r})", inner, depth + 1)
    if "items" in schema:
        _check_schema_keywords(f"{where} (items)", schema["items"], depth + 1)


def _search(pattern: str, text: str) -> bool | None:
    """Whether the pattern is found; None when it ran out of time."""
    try:
        return regex.search(pattern, text, timeout=PATTERN_SECONDS) is not None
    except TimeoutError:
        return None


def _short(text: str | None, limit: int = 200) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + "…"


def check_one(item: dict[str, Any], run: Run) -> Check:
    kind = item["kind"]
    output = run.final_output or ""
    passed: bool
    detail = ""
    if kind in ("output_contains", "output_not_contains"):
        found = item["text"].casefold() in output.casefold()
        passed = found if kind == "output_contains" else not found
        expected = (
            f"{'contains' if kind == 'output_contains' else 'does not contain'} {item['text']!r}"
        )
        detail = "" if passed else f"the answer: {_short(output)!r}"
    elif kind == "output_matches":
        expected = f"matches /{item['pattern']}/"
        found_match = _search(item["pattern"], output)
        passed = bool(found_match)
        if found_match is None:
            detail = f"the pattern took over {PATTERN_SECONDS:g} s: simplify it"
        elif not passed:
            detail = f"the answer: {_short(output)!r}"
    elif kind == "output_json_schema":
        expected = "is JSON matching the schema"
        try:
            jsonschema.validate(json.loads(output), item["schema"])
            passed = True
        except ValueError as exc:
            passed, detail = False, f"not JSON: {exc}"
        except jsonschema.ValidationError as exc:
            passed, detail = False, f"not as the schema says: {exc.message}"
    elif kind == "last_agent":
        expected = f"ends with {item['agent']!r}"
        passed = run.last_agent == item["agent"]
        detail = "" if passed else f"ended with {run.last_agent or '(no agent)'!r}"
    elif kind in ("tool_called", "tool_not_called"):
        calls = [arguments for name, arguments in run.tools if name == item["tool"]]
        if kind == "tool_not_called":
            expected = f"does not call {item['tool']}"
            passed = not calls
            detail = "" if passed else f"called it {len(calls)} times"
        elif "arguments" in item:
            expected = f"calls {item['tool']} with arguments matching /{item['arguments']}/"
            passed = any(_search(item["arguments"], arguments) for arguments in calls)
            detail = "" if passed else f"its calls: {[_short(a, 100) for a in calls] or 'none'}"
        else:
            expected = f"calls {item['tool']}"
            passed = bool(calls)
            detail = (
                "" if passed else f"tools called: {sorted({n for n, _ in run.tools}) or 'none'}"
            )
    else:  # handoff_path
        expected = "runs " + " → ".join(item["agents"])
        passed = run.agents == item["agents"]
        detail = "" if passed else "ran " + (" → ".join(run.agents) or "no agent")
    return Check(kind=kind, expected=expected, passed=passed, detail=detail)


def check_all(expectations: list[dict[str, Any]], run: Run) -> list[Check]:
    return [check_one(item, run) for item in expectations]


def run_of(final_output: str | None, spans: list[dict[str, Any]]) -> Run:
    """What the expectations read of a trial, from its spans in the order they started."""
    agents = [span["name"] for span in spans if span["type"] == "agent"]
    tools = [
        (span["name"], str((span.get("data") or {}).get("input") or ""))
        for span in spans
        if span["type"] == "function"
    ]
    return Run(final_output, agents[-1] if agents else "", agents, tools)


def starting_expectations(final_output: str | None, last_agent: str) -> list[dict[str, Any]]:
    """What a trial did, as a new case's first expectations ("save this as a case")."""
    found: list[dict[str, Any]] = []
    if last_agent:
        found.append({"kind": "last_agent", "agent": last_agent})
    if final_output:
        found.append({"kind": "output_contains", "text": final_output.strip()[:200]})
    return found
