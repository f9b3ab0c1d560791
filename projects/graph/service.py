"""A project's graph at a commit, and a change's graph diff, ready for the API and pages."""

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from django.urls import reverse

from projects import git
from projects.graph.reader import GraphChange, GraphNode, WorkflowGraph, build_graph, diff_graphs
from projects.graph.render import (
    Drawing,
    GraphNotDrawn,
    diff_drawing,
    drawing_of,
    to_mermaid,
    to_svg,
)
from projects.models import Project

FORMATS = ("json", "mermaid", "svg")
# In the OpenAPI document too; an empty ref is no ref (HEAD).
REF_PATTERN = "^([0-9a-fA-F]{4,40})?$"
_SHA = re.compile(r"[0-9a-fA-F]{4,40}")


class BadRef(ValueError):
    """`ref` is not a commit id (hexadecimal, 4 to 40 characters)."""


class UnknownRef(LookupError):
    """No such commit in the project's repository (or no workflow file in it)."""


def code_at(project: Project, ref: str | None) -> tuple[str, str]:
    """The project's file at `ref` (HEAD when None) and the commit it was read from."""
    if not ref:
        return project.current_code, project.current_commit
    if not _SHA.fullmatch(ref):
        raise BadRef(f"ref must be a commit id (4 to 40 hexadecimal characters), not {ref!r}.")
    try:
        return git.read_file_at(project.slug, project.main_file, ref), ref
    except git.GitError as exc:
        raise UnknownRef(str(exc)) from None


def project_page_url(project: Project) -> str:
    """Where a node's link goes: its lines highlighted, an agent's own conversation."""
    return reverse("project-page", args=[project.id])


@dataclass(frozen=True)
class Svg:
    """A drawing, or why there is none (`reason` one word, `error` a sentence)."""

    svg: str = ""
    reason: str = ""
    error: str = ""


def svg_or_reason(drawing: Drawing, **options: Any) -> Svg:
    try:
        return Svg(svg=to_svg(drawing, **options))
    except GraphNotDrawn as exc:
        return Svg(reason=exc.reason, error=str(exc))


@lru_cache(maxsize=64)
def project_svg(code: str, page_url: str, focus: str | None) -> Svg:
    """The project page's drawing, kept for the next load of the same code: `dot` takes
    30-400 ms (bench/graph_render.py), reading the code about 1 ms."""

    def link(node: GraphNode) -> str:
        return f"{page_url}?focus={quote(node.id, safe='')}#code-line-{node.line}"

    return svg_or_reason(project_drawing(build_graph(code)), link=link, focus=focus)


def render(drawing: Drawing, output: str, data: dict[str, Any]) -> dict[str, Any]:
    if output == "mermaid":
        return {"format": "mermaid", "mermaid": to_mermaid(drawing)}
    if output == "svg":
        # Not drawn: the graph itself instead, so the client can still show something.
        drawn = svg_or_reason(drawing)
        return {
            "format": "svg",
            "svg": drawn.svg,
            "reason": drawn.reason,
            "error": drawn.error,
            "graph": data if drawn.reason else None,
        }
    return data


@dataclass(frozen=True)
class DiffGraph:
    base: WorkflowGraph
    patched: WorkflowGraph
    change: GraphChange

    def drawing(self) -> Drawing:
        return diff_drawing(self.base, self.patched, self.change)

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": self.base.as_dict(),
            "patched": self.patched.as_dict(),
            "change": self.change.as_dict(),
        }


def diff_graph(base_code: str, patched_code: str) -> DiffGraph:
    """Raises ValueError when either side does not parse."""
    base, patched = build_graph(base_code), build_graph(patched_code)
    return DiffGraph(base, patched, diff_graphs(base, patched))


def project_drawing(graph: WorkflowGraph) -> Drawing:
    return drawing_of(graph)
