"""The API's published contract, as tests check answers and events against it.

`validate_event` checks a WebSocket frame against `WebSocketEvent` (the test sockets
of `tests.support.fixtures` call it on every frame they receive); `validate_response` checks
an HTTP answer against the OpenAPI document's response for its operation and status.
"""

import functools
import json
import re
from typing import Any

from jsonschema import Draft202012Validator

# Server internals that no answer may carry (the admin shows them).
INTERNAL_FIELDS = frozenset(
    {"repository_path", "conversations_db_path", "openai_session_key", "last_response_id"}
)


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document `/api/schema/` serves (generated once per test process)."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _validator(schema: dict[str, Any], components: dict[str, Any]) -> Draft202012Validator:
    # `#/components/...` references resolve against the document's root.
    return Draft202012Validator({**schema, "components": components})


@functools.cache
def _event_validator() -> Draft202012Validator:
    from sessions_app.event_schema import add_events

    document: dict[str, Any] = {}
    add_events(document)
    return _validator({"$ref": "#/components/schemas/WebSocketEvent"}, document["components"])


def validate_event(event: Any) -> None:
    """AssertionError naming the problem when `event` is not a documented event."""
    errors = sorted(_event_validator().iter_errors(event), key=lambda e: list(e.path))
    assert not errors, (
        f"event does not match its schema: {errors[0].message} at {list(errors[0].path)}\n"
        f"{json.dumps(event)[:500]}"
    )
    # The exact event's schema, not just any event's: `type` picks it.
    schemas = _event_validator().schema["components"]["schemas"]
    mapping = schemas["WebSocketEvent"]["discriminator"]["mapping"]
    assert event["type"] in mapping, f"undocumented event type {event['type']!r}"
    exact = _validator({"$ref": mapping[event["type"]]}, {"schemas": schemas})
    error = next(exact.iter_errors(event), None)
    assert error is None, f"{event['type']} does not match its schema: {error.message}"


def validate_frame(message: dict[str, Any]) -> None:
    """An ASGI message a test socket received: its text frame must be a documented event."""
    if message.get("type") == "websocket.send" and message.get("text") is not None:
        validate_event(json.loads(message["text"]))


def _operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    paths = openapi_document()["paths"]
    for template, item in paths.items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


def validate_response(method: str, path: str, status: int, body: Any) -> None:
    """AssertionError when the answer is not what the document says it would be."""
    template, operation = _operation(method, path.split("?")[0])
    responses = operation["responses"]
    assert str(status) in responses, (
        f"{method} {template} answered {status}, not documented ({sorted(responses)})"
    )
    content = responses[str(status)].get("content")
    if content is None:
        assert body in (None, b"", ""), f"{method} {template} {status} documents no body"
        return
    schema = content["application/json"]["schema"]
    validator = _validator(schema, openapi_document()["components"])
    error = next(validator.iter_errors(body), None)
    assert error is None, (
        f"{method} {template} {status}: {error.message} at {list(error.path)}\n"
        f"{json.dumps(body)[:500]}"
    )
    leaked = internal_fields_in(body)
    assert not leaked, f"{method} {template} answered server internals: {leaked}"


def internal_fields_in(value: Any) -> set[str]:
    """The INTERNAL_FIELDS keys anywhere in a JSON value."""
    found: set[str] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            found |= INTERNAL_FIELDS & set(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found
