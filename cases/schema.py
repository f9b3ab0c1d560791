"""The behaviour case API's expectations, exactly, in the OpenAPI document.

A serializer can only call `expectations` JSON; the document says which objects it
takes (one schema per kind, each field as `cases.expectations.validate` checks it), so
a client, and `make check`'s fuzzer, can make only what the server accepts. Patterns
are `format: python-regex` (the fuzzer's hooks make valid ones); a JSON Schema may use the
keywords `cases.expectations.SCHEMA_KEYWORDS` takes. Listed in settings
(`API_SCHEMA_ADDITIONS`).
"""

from typing import Any

from cases.expectations import JSON_TYPES, KINDS, MAX_EXPECTATIONS, MAX_TEXT, OPTIONAL
from vibegrapher.api.schema import NO_NUL

_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": NO_NUL}
_PATTERN = {**_TEXT, "format": "python-regex"}
FIELDS: dict[str, dict[str, Any]] = {
    "text": _TEXT,
    "agent": _TEXT,
    "tool": _TEXT,
    "pattern": _PATTERN,
    "arguments": _PATTERN,
    "schema": {"$ref": "#/components/schemas/ExpectationJsonSchema"},
    "agents": {"type": "array", "minItems": 1, "items": _TEXT},
}


def expectation_schemas() -> dict[str, Any]:
    return {
        f"Expectation_{kind}": {
            "type": "object",
            "properties": {
                "kind": {"const": kind},
                **{field: FIELDS[field] for field in (*required, *OPTIONAL.get(kind, ()))},
            },
            "required": ["kind", *required],
            "additionalProperties": False,
        }
        for kind, required in KINDS.items()
    }


# The part of JSON Schema an output may be checked against (`SCHEMA_KEYWORDS`).
JSON_SCHEMA_SUBSET = {
    "type": "object",
    "description": "A JSON Schema (draft 2020-12) the output must match, written with "
    "type, properties, required, items, enum and additionalProperties.",
    "properties": {
        "type": {"enum": list(JSON_TYPES)},
        "properties": {
            "type": "object",
            "additionalProperties": {"$ref": "#/components/schemas/ExpectationJsonSchema"},
        },
        "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "items": {"$ref": "#/components/schemas/ExpectationJsonSchema"},
        "enum": {"type": "array"},
        "additionalProperties": {"type": "boolean"},
    },
    "additionalProperties": False,
}


def add_case_rules(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    kinds = expectation_schemas()
    schemas.update(kinds)
    schemas["ExpectationJsonSchema"] = JSON_SCHEMA_SUBSET
    # A case (or a trial to make one from) is always sent.
    document["paths"]["/api/projects/{project_id}/cases"]["post"]["requestBody"]["required"] = True
    expectations = {
        "type": "array",
        "maxItems": MAX_EXPECTATIONS,
        "items": {"oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in kinds]},
        "description": "What the answer must (not) do; every one must hold (docs/cases.md).",
    }
    for name in ("BehaviourCase", "BehaviourCaseRequest", "PatchedBehaviourCaseRequest"):
        schemas[name]["properties"]["expectations"] = expectations
    document["components"]["schemas"] = dict(sorted(schemas.items()))
