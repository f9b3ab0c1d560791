"""Pieces of the OpenAPI document shared by every app's views (drf-spectacular).

`errors(400, 404)` gives the error responses of an operation in the API's one error
shape; `postprocess` adds what no view describes: the error schemas, the WebSocket
event schemas (generated from `sessions_app.events`), and the document's info.
"""

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from vibegrapher.type_schema import SchemaBuilder

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
    409: "The object's state does not allow it now (`detail` says why).",
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


LIMIT = OpenApiParameter(
    "limit",
    int,
    description="Items per page: 1 to API_MAX_PAGE_SIZE (200); default API_PAGE_SIZE (50).",
)
CURSOR = OpenApiParameter(
    "cursor",
    str,
    description="Where the page starts: take it from the previous page's `next` URL.",
)
PAGE_PARAMETERS = [LIMIT, CURSOR]


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
        "description": "Bad input: each offending field (or `non_field_errors`) with its problems.",
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
    """Add the shared error schemas and the WebSocket events to the document."""
    from projects.graph_schema import graph_components
    from sessions_app.event_schema import add_events

    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(ERROR_SCHEMAS)
    schemas.update(graph_components())
    schemas.update(API_TYPES.components)
    _add_csrf_refusals(result)
    add_events(result)
    # Sorted, so that the committed document changes only where the API does.
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result


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


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's, with `_list` operation ids for the paginated lists (their
    views are plain APIViews, which it would name `_retrieve`)."""

    def get_operation_id(self) -> str:
        operation_id = str(super().get_operation_id())
        responses = self.get_response_serializers()
        page = responses.get(200) if isinstance(responses, dict) else None
        if getattr(page, "__class__", None) and type(page).__name__.endswith("Page"):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id
