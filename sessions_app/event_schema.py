"""The WebSocket's contract in the OpenAPI document, generated from the code.

Every member of `sessions_app.events.Event` becomes a schema in `components/schemas`
(from its TypedDict: a new event or field appears by itself), `WebSocketEvent` is
their `oneOf` (told apart by `type`), and `x-websocket` at the document's top says
where to connect, how to authenticate, what a client may send and the close codes
(the `CLOSE_*` constants of `sessions_app.consumers`).
"""

import typing
from typing import Any, Literal, TypedDict, get_args

from sessions_app import consumers, events
from vibegrapher.api.type_schema import REF_PREFIX, SchemaBuilder


class PingFrame(TypedDict):
    """The one frame a client may send; any other is ignored."""

    type: Literal["ping"]


class PongEvent(TypedDict):
    """The answer to `ping`."""

    type: Literal["pong"]


CLOSE_CODE_MEANINGS: dict[str, str] = {
    "CLOSE_UNAUTHENTICATED": "No credentials (no session cookie, no valid `?token=`), "
    "or the credential the socket was opened with ended while connected, within about "
    "WS_CREDENTIAL_CHECK_SECONDS (1): the close reason says how (`token revoked`, "
    "`token expired`, `session ended`, `session expired`, `password changed`, `user "
    "deactivated or deleted`). Do not reconnect with the same credential.",
    "CLOSE_FORBIDDEN": "The project is someone else's. Do not reconnect.",
    "CLOSE_NOT_FOUND": "No such project. Do not reconnect.",
    "CLOSE_TOO_MANY": "The user already has WS_MAX_SOCKETS_PER_USER (20) sockets open, or "
    "the client sent more than WS_MAX_FRAMES_PER_SECOND (20) frames a second.",
    "CLOSE_MESSAGE_TOO_BIG": "A frame over WS_MAX_FRAME_BYTES (64 KB) from the client.",
    "CLOSE_SERVICE_RESTART": "The server process is restarting (a deploy): reconnect at "
    "once, to whichever server answers, and catch up on what was missed (GET the "
    "session's messages `?after=` the last one seen, and the session's `run_state`); "
    "the reason is `server restarting: reconnect`.",
}


def event_types() -> list[type]:
    """The TypedDict of each event the server emits, in `Event`'s order, then `pong`."""
    return [*get_args(events.Event), PongEvent]


def close_codes() -> dict[int, str]:
    """Each close code the consumer uses, with its meaning (KeyError if one has none)."""
    codes = {
        value: CLOSE_CODE_MEANINGS[name]
        for name, value in vars(consumers).items()
        if name.startswith("CLOSE_") and isinstance(value, int)
    }
    return dict(sorted(codes.items()))


def event_type_name(typed: type) -> str:
    hints = typing.get_type_hints(typed)
    (name,) = get_args(hints["type"])
    return str(name)


def add_events(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    builder = SchemaBuilder()
    refs = [builder.ref(typed) for typed in event_types()]
    builder.ref(PingFrame)
    schemas.update(builder.components)
    schemas["WebSocketEvent"] = {
        "description": "One JSON text frame from the server: an event, `type` first.",
        "oneOf": refs,
        "discriminator": {
            "propertyName": "type",
            "mapping": {
                event_type_name(typed): ref["$ref"]
                for typed, ref in zip(event_types(), refs, strict=True)
            },
        },
    }
    codes = close_codes()
    schemas["WebSocketCloseCode"] = {
        "type": "integer",
        "enum": list(codes),
        "description": "Why the server closed the socket: "
        + "; ".join(f"{code}: {meaning}" for code, meaning in codes.items()),
    }
    document["x-websocket"] = {
        "path": "/ws/projects/{project_id}/",
        "authentication": "The session cookie (then the Origin header must be one of "
        "ALLOWED_HOSTS, else the handshake is refused with HTTP 403), or "
        "`?token=<api token>` (any Origin, or none).",
        "client_frames": {"$ref": REF_PREFIX + "PingFrame"},
        "server_frames": {"$ref": REF_PREFIX + "WebSocketEvent"},
        "close_codes": {str(code): meaning for code, meaning in codes.items()},
        "heartbeat_seconds": "WS_HEARTBEAT_SECONDS (30): a `heartbeat` event.",
        "large_events": "An event whose JSON is over WS_EVENT_INLINE_MAX_BYTES (64 KB) "
        "comes as a `large_event` (`LargeEvent`): GET its `body_url` for the whole event "
        "and apply that in its place, before the events that follow it. Frames from the "
        "server have no size limit; WS_MAX_FRAME_BYTES is for the client's.",
    }
