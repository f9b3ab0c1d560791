"""JSON Schemas (2020-12, as OpenAPI 3.1 uses) from Python type annotations.

TypedDicts and dataclasses become object schemas in `components/schemas`, referenced by
`$ref`; `NotRequired[...]` keys and dataclass fields with a default are optional; a
`Literal` is an `enum` (a single one a `const`); `X | None` admits null. The schemas are
read from the code itself, so a new event or field appears in the document by itself.
"""

import dataclasses
import types
import typing
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin

REF_PREFIX = "#/components/schemas/"

_PRIMITIVES: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    Any: {},
}


def is_typeddict(annotation: Any) -> bool:
    return isinstance(annotation, type) and typing.is_typeddict(annotation)


class SchemaBuilder:
    """Collects the named schemas met while converting; `components` is the result."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}

    def ref(self, named: type) -> dict[str, Any]:
        name = named.__name__
        if name not in self.components:
            self.components[name] = {}  # reserved first: a type may refer to itself
            if is_typeddict(named):
                self.components[name] = self._typeddict(named)
            else:
                self.components[name] = self._dataclass(named)
        return {"$ref": REF_PREFIX + name}

    def schema(self, annotation: Any) -> dict[str, Any]:
        if annotation in _PRIMITIVES:
            return dict(_PRIMITIVES[annotation])
        if is_typeddict(annotation) or dataclasses.is_dataclass(annotation):
            return self.ref(annotation)
        origin, args = get_origin(annotation), get_args(annotation)
        if origin in (NotRequired, Required):
            return self.schema(args[0])
        if origin is Literal:
            kinds = {type(arg) for arg in args}
            typed = {"type": _PRIMITIVES[kinds.pop()]["type"]} if len(kinds) == 1 else {}
            if len(args) == 1:
                return {**typed, "const": args[0]}
            return {**typed, "enum": list(args)}
        if origin in (Union, types.UnionType):
            options = [self.schema(arg) for arg in args]
            simple = [o.get("type") for o in options]
            if all(isinstance(t, str) for t in simple) and all(len(o) == 1 for o in options):
                return {"type": simple}
            return {"anyOf": options}
        if origin in (list, tuple, set, frozenset):
            return {"type": "array", "items": self.schema(args[0]) if args else {}}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.schema(args[1])}
        raise TypeError(f"No JSON Schema for the annotation {annotation!r}")

    def _typeddict(self, typed: type) -> dict[str, Any]:
        hints = typing.get_type_hints(typed, include_extras=True)
        required_keys: frozenset[str] = getattr(typed, "__required_keys__", frozenset())
        return self._object(typed, hints, [k for k in hints if k in required_keys])

    def _dataclass(self, cls: type) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        fields = [f for f in dataclasses.fields(cls) if f.metadata.get("api", True)]
        required = [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        return self._object(cls, {f.name: hints[f.name] for f in fields}, required)

    def _object(self, cls: type, hints: dict[str, Any], required: list[str]) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {name: self.schema(hint) for name, hint in hints.items()},
            "required": required,
            "additionalProperties": False,
        }
        doc = (cls.__doc__ or "").strip()
        if doc and not doc.startswith(f"{cls.__name__}("):  # not a dataclass's generated doc
            schema["description"] = " ".join(doc.split())
        return schema
