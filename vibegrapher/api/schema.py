"""Pieces of the OpenAPI document shared by every app's views (drf-spectacular).

`errors(400, 404)` gives the error responses of an operation in the API's one error
shape; `postprocess` adds what no view describes: the error schemas, and the parts
the apps list in settings (the WebSocket's event schemas, the graph's), and the links.
"""

import re
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from vibegrapher.api.fields import StrictCharField
from vibegrapher.api.pagination import ROW_CURSOR_PATTERN
from vibegrapher.api.type_schema import SchemaBuilder

# The TypedDicts that JSON columns hold, described for the document (typed_json).
API_TYPES = SchemaBuilder()


def typed_json(annotation: Any, **kwargs: Any) -> serializers.JSONField:
    """A read-only JSON field whose schema comes from its Python type (a TypedDict...)."""
    field_class = type("TypedJSONField", (serializers.JSONField,), {})
    extend_schema_field(API_TYPES.schema(annotation))(field_class)
    return field_class(read_only=True, **kwargs)


ERROR_REF = {"$ref": "#/components/schemas/Error"}
FIELD_ERRORS_REF = {"$ref": "#/components/schemas/FieldErrors"}

_ERROR_TEXT = {
    400: "Bad input: `detail`, or the fields named with their problems.",
    401: "No credentials, or an invalid or expired token (`WWW-Authenticate: Token`).",
    403: "A session cookie without the CSRF header, or not allowed.",
    404: "No such object among yours (someone else's answers 404 too).",
    409: "The object's state does not allow it now, or the name is taken (`detail` says why).",
    413: "The request body is over its limit.",
    429: "Too many failed logins: retry after `Retry-After` seconds.",
    502: "The model's server answered an error (`detail` quotes it).",
    503: "The server cannot do it now: no model configured, no sandbox, shutting down, "
    "or busy with this kind of slow work for others (Retry-After).",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Error responses of an operation; 401 is always among them except for login."""
    responses: dict[int, OpenApiResponse] = {}
    for code in sorted(set(codes)):
        schema = {"oneOf": [ERROR_REF, FIELD_ERRORS_REF]} if code == 400 else ERROR_REF
        responses[code] = OpenApiResponse(response=schema, description=_ERROR_TEXT[code])
    return responses


def authed_errors(*codes: int) -> dict[int, OpenApiResponse]:
    return errors(401, 404, *codes)


# What `vibegrapher.api.pagination` accepts, stated in the document (the fuzzer of `make
# check` sends whatever the document allows and fails on any 400 for it).
LIMIT = OpenApiParameter(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": settings.API_MAX_PAGE_SIZE},
    description="Items per page: 1 to API_MAX_PAGE_SIZE (200); default API_PAGE_SIZE (50).",
)
CURSOR = OpenApiParameter(
    "cursor",
    {"type": "string", "pattern": ROW_CURSOR_PATTERN},
    description="Where the page starts: take it from the previous page's `next` URL.",
)
PAGE_PARAMETERS = [LIMIT, CURSOR]
# A UUID in its usual form, or empty (as absent): `?after=` of the messages.
UUID_OR_EMPTY = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
COMMIT_CURSOR = OpenApiParameter(
    "cursor",
    {"type": "string", "pattern": "^([0-9a-f]{40})?$"},
    description="The sha of the previous page's last commit (its `next` URL carries it); "
    "404 when it is not in the history.",
)
COMMIT_PAGE_PARAMETERS = [LIMIT, COMMIT_CURSOR]

# DRF's CharField refuses a NUL (lone surrogates too, but no valid JSON text holds one)
# and, when it trims, a value that is only whitespace (str.isspace: Unicode's White_Space
# and \x1c-\x1f) unless blanks are allowed.
NO_NUL = "^[^\\x00]*$"
NOT_ONLY_WHITESPACE = "^[^\\x00]*[^\\x00\\s\\x1c-\\x1f][^\\x00]*$"


ERROR_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "Every error under /api/: what went wrong, in words.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
        "additionalProperties": True,
    },
    "FieldErrors": {
        "type": "object",
        "description": "Bad input: each offending field (or `non_field_errors`) with its problems. "
        "Never a `detail` key: a body with one is an `Error`.",
        "minProperties": 1,
        "propertyNames": {"not": {"const": "detail"}},
        "additionalProperties": {
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "string"},
                {"type": "object"},
            ]
        },
    },
}


def postprocess(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """Add the shared error schemas and what the apps contribute to the document.

    The apps' parts are named in settings (`API_SCHEMA_COMPONENTS`: functions giving
    schemas, such as the graph's; `API_SCHEMA_ADDITIONS`: functions that add to the
    whole document, such as the WebSocket's events), so the kernel imports no app.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(ERROR_SCHEMAS)
    for components in settings.API_SCHEMA_COMPONENTS:
        schemas.update(import_string(components)())
    schemas.update(API_TYPES.components)
    _add_csrf_refusals(result)
    _state_body_rules(schemas)
    _add_links(result)
    for addition in settings.API_SCHEMA_ADDITIONS:
        import_string(addition)(result)
    # Sorted, so that the committed document changes only where the API does.
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result


# Request fields holding Python source: the server parses them (projects/code.py), so a
# string that is not Python is a 400. `format: python` says so; `make check`'s fuzzer
# generates Python source for it (tests/system/api_fuzz_hooks.py).
PYTHON_FIELDS = {
    "ProjectCreateRequest": ["code"],
    "TestCaseRequest": ["test_code"],
    "PatchedTestCaseRequest": ["test_code"],
}


def _state_body_rules(schemas: dict[str, Any]) -> None:
    """What the serializers check beyond each field on its own."""
    for name, fields in PYTHON_FIELDS.items():
        for field in fields:
            schemas[name]["properties"][field]["format"] = "python"
    # A rejection says what to change (feedback that is not only whitespace).
    schemas["ReviewRequest"]["oneOf"] = [
        {"properties": {"approved": {"const": True}}},
        {
            "properties": {
                "approved": {"const": False},
                "feedback": {"type": "string", "pattern": NOT_ONLY_WHITESPACE},
            },
            "required": ["feedback"],
        },
    ]
    # A node session names its agent; a global one names none (blank after trimming).
    schemas["SessionCreateRequest"]["oneOf"] = [
        {
            "properties": {
                "session_type": {"const": "global"},
                # Python's whitespace (what DRF trims) includes \x1c-\x1f; ECMA's \s not.
                "node_id": {"type": "string", "pattern": "^[\\s\\x1c-\\x1f]*$"},
            }
        },
        {
            "properties": {
                "session_type": {"const": "node"},
                "node_id": {"type": "string", "pattern": NOT_ONLY_WHITESPACE},
            },
            "required": ["session_type", "node_id"],
        },
    ]


# Where each path id comes from: (operationId, status, runtime expression). Every
# operation taking that id gets a link from each source, so a client (and the stateful
# phase of `make check`'s fuzzer) can walk from creating an object to using it.
ID_SOURCES: dict[str, list[tuple[str, str, str]]] = {
    "project_id": [
        ("projects_create", "201", "$response.body#/id"),
        ("projects_list", "200", "$response.body#/results/0/id"),
    ],
    "session_id": [
        ("projects_sessions_create", "201", "$response.body#/id"),
        ("projects_sessions_create", "200", "$response.body#/id"),
        ("projects_sessions_list", "200", "$response.body#/results/0/id"),
    ],
    "test_id": [
        ("projects_tests_create", "201", "$response.body#/id"),
        ("projects_tests_list", "200", "$response.body#/results/0/id"),
        ("projects_tests_quick_list", "200", "$response.body#/results/0/id"),
    ],
    "message_id": [
        ("sessions_messages_create", "202", "$response.body#/message_id"),
        ("sessions_messages_list", "200", "$response.body#/results/0/id"),
    ],
    "case_id": [
        ("projects_cases_create", "201", "$response.body#/id"),
        ("projects_cases_list", "200", "$response.body#/results/0/id"),
    ],
    "trial_id": [
        ("projects_trials_create", "202", "$response.body#/id"),
        ("projects_trials_list", "200", "$response.body#/results/0/id"),
    ],
    # Diffs come from runs (the VibeCoder proposes them), so from lists and messages.
    "diff_id": [
        ("projects_diffs_list", "200", "$response.body#/results/0/id"),
        ("sessions_diffs_list", "200", "$response.body#/results/0/id"),
        ("sessions_diffs_pending_list", "200", "$response.body#/results/0/id"),
    ],
}


def _add_links(document: dict[str, Any]) -> None:
    """OpenAPI links from each operation that yields an id to every one that takes it."""
    operations: dict[str, dict[str, Any]] = {}
    takers: dict[str, list[str]] = {}
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            operations[operation["operationId"]] = operation
            for name in re.findall(r"\{(\w+)\}", path):
                takers.setdefault(name, []).append(operation["operationId"])
    for name, sources in ID_SOURCES.items():
        for source, status, expression in sources:
            response = operations[source]["responses"][status]
            links = response.setdefault("links", {})
            for target in takers[name]:
                links[target] = {
                    "operationId": target,
                    "parameters": {name: expression},
                    "description": f"`{name}` of the object this answer names.",
                }
            response["links"] = dict(sorted(links.items()))


def _add_csrf_refusals(document: dict[str, Any]) -> None:
    """A cookie-authenticated request that changes something needs its CSRF header:
    every such operation may answer 403."""
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            cookie = any("cookieAuth" in scheme for scheme in operation.get("security", []))
            if method in ("post", "put", "patch", "delete") and cookie:
                operation["responses"].setdefault(
                    "403",
                    {
                        "description": _ERROR_TEXT[403],
                        "content": {"application/json": {"schema": ERROR_REF}},
                    },
                )
                operation["responses"] = dict(
                    sorted(operation["responses"].items(), key=lambda item: item[0])
                )


# The fields the pattern describes exactly (subclasses such as EmailField check more).
TEXT_FIELDS = (serializers.CharField,)


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's, with `_list` operation ids for the paginated lists (their
    views are plain APIViews, which it would name `_retrieve`), and the character rules
    of DRF's CharField stated as a `pattern` on request strings."""

    def _map_serializer_field(
        self, field: Any, direction: str, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(field, direction, bypass_extensions)
        plain = type(field) in TEXT_FIELDS or isinstance(field, StrictCharField)
        unconstrained = "pattern" not in schema and "format" not in schema
        if direction == "request" and plain and unconstrained and schema.get("type") == "string":
            blank_is_error = field.trim_whitespace and not field.allow_blank
            schema["pattern"] = NOT_ONLY_WHITESPACE if blank_is_error else NO_NUL
        return schema

    def get_operation_id(self) -> str:
        operation_id = str(super().get_operation_id())
        responses = self.get_response_serializers()
        page = responses.get(200) if isinstance(responses, dict) else None
        if getattr(page, "__class__", None) and type(page).__name__.endswith("Page"):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id
