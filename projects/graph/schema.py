"""The graph endpoints' answers in the OpenAPI document, generated from `projects.graph.reader`'s
dataclasses (`components/schemas`: GraphNode, GraphEdge, Unresolved, ...)."""

from typing import Any, get_args

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from projects.graph.reader import GraphEdge, GraphNode, Unresolved
from projects.graph.render import Reason
from vibegrapher.type_schema import REF_PREFIX, SchemaBuilder


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF_PREFIX + name}


def graph_components() -> dict[str, Any]:
    builder = SchemaBuilder()
    for cls in (GraphNode, GraphEdge, Unresolved):
        builder.ref(cls)
    schemas = dict(builder.components)
    schemas["WorkflowGraph"] = {
        "type": "object",
        "properties": {
            "nodes": {"type": "array", "items": _ref("GraphNode")},
            "edges": {"type": "array", "items": _ref("GraphEdge")},
            "entry": {"type": "array", "items": {"type": "string"}},
            "unresolved": {"type": "array", "items": _ref("Unresolved")},
        },
        "required": ["nodes", "edges", "entry", "unresolved"],
    }
    schemas["GraphChange"] = {
        "type": "object",
        "properties": {
            "nodes_added": {"type": "array", "items": {"type": "string"}},
            "nodes_removed": {"type": "array", "items": {"type": "string"}},
            "nodes_changed": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "attributes": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["id", "attributes"],
                },
            },
            "edges_added": {"type": "array", "items": _ref("GraphEdge")},
            "edges_removed": {"type": "array", "items": _ref("GraphEdge")},
        },
        "required": [
            "nodes_added",
            "nodes_removed",
            "nodes_changed",
            "edges_added",
            "edges_removed",
        ],
    }
    drawings: dict[str, Any] = {
        "GraphMermaid": {
            "type": "object",
            "properties": {"format": {"const": "mermaid"}, "mermaid": {"type": "string"}},
            "required": ["format", "mermaid"],
        },
    }
    for answer in ("ProjectGraph", "DiffGraph"):
        drawings[f"{answer}Svg"] = {
            "type": "object",
            "properties": {
                "format": {"const": "svg"},
                "svg": {"type": "string", "description": "The `<svg>` element, or empty."},
                "reason": {
                    "type": "string",
                    "enum": ["", *get_args(Reason)],
                    "description": "Why it was not drawn, in one word; empty when drawn.",
                },
                "error": {
                    "type": "string",
                    "description": "Why it was not drawn, in a sentence; empty when drawn.",
                },
                "graph": {
                    "oneOf": [_ref(answer), {"type": "null"}],
                    "description": "When not drawn, the graph itself (as `format=json`); "
                    "null when drawn.",
                },
            },
            "required": ["format", "svg", "reason", "error", "graph"],
        }
    schemas.update(drawings)
    schemas["ProjectGraph"] = {
        "allOf": [
            {
                "type": "object",
                "properties": {
                    "ref": {"type": "string", "description": "The commit drawn."},
                    "main_file": {"type": "string"},
                },
                "required": ["ref", "main_file"],
            },
            _ref("WorkflowGraph"),
        ]
    }
    schemas["DiffGraph"] = {
        "type": "object",
        "properties": {
            "diff_id": {"type": "string", "format": "uuid"},
            "base_commit": {"type": "string"},
            "base": _ref("WorkflowGraph"),
            "patched": _ref("WorkflowGraph"),
            "change": _ref("GraphChange"),
        },
        "required": ["diff_id", "base_commit", "base", "patched", "change"],
    }
    return schemas


def graph_answer(json_schema: str) -> dict[str, Any]:
    """`?format=json` (the default) answers `json_schema`; mermaid and svg their drawing."""
    return {"oneOf": [_ref(json_schema), _ref("GraphMermaid"), _ref(f"{json_schema}Svg")]}


@extend_schema_field(_ref("WorkflowGraph"))
class GraphSerializer(serializers.JSONField):
    """A workflow's graph (`WorkflowGraph.as_dict()`)."""
