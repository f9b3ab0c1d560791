"""Drawing a workflow graph: SVG laid out by Graphviz (`dot`) on the server, and Mermaid.

Graphviz was chosen over a JavaScript layout engine because `dot`'s layered layout
keeps 5-40 nodes readable (few crossings, edges routed around boxes), the page
receives a finished `<svg>` element (nothing to run in the browser, so nothing for the
Content-Security-Policy to allow), and the same drawing serves the API and tests.
The SVG it writes has no `style` attributes or scripts; `clean_svg` makes sure.

`dot`'s time grows much faster than a graph's edges, so graphs over a node or an edge
cap are not drawn, and a layout that runs past its time limit is killed: the graph is
then answered without its drawing, with the reason (`GraphNotDrawn`).
"""

import contextlib
import functools
import math
import re
import resource
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import graphviz  # type: ignore[import-untyped]  # no stubs, no py.typed
from django.conf import settings

from projects.graph.reader import GraphChange, GraphEdge, GraphNode, WorkflowGraph

Status = Literal["", "added", "removed", "changed"]
# Text marks first: the drawing must read the same without colour.
MARKS: dict[str, str] = {"added": "+ ", "removed": "\u2212 ", "changed": "~ ", "": ""}
COLOURS: dict[str, str] = {"added": "#15803d", "removed": "#b91c1c", "changed": "#b45309"}
FILLS: dict[str, str] = {"added": "#dcfce7", "removed": "#fee2e2", "changed": "#fef3c7"}
SHAPES = {"agent": "box", "tool": "ellipse", "guardrail": "octagon", "unresolved": "note"}
EDGE_STYLES: dict[str, dict[str, str]] = {
    "handoff": {"style": "solid", "penwidth": "1.6"},
    "tool": {"style": "dashed", "arrowhead": "vee"},
    "agent_tool": {"style": "dashed", "arrowhead": "vee"},
    "input_guardrail": {"style": "dotted", "arrowhead": "tee"},
    "output_guardrail": {"style": "dotted", "arrowhead": "tee"},
    "clone": {"style": "dotted", "arrowhead": "empty"},
    "runs": {"style": "solid", "arrowhead": "open"},
    # The order agents run in: plain arrows; a route (a branch) starts at a diamond, as
    # a decision does in a flowchart, and is dashed, so it reads without colour.
    "then": {"style": "solid", "arrowhead": "normal"},
    "route": {"style": "dashed", "arrowhead": "normal", "dir": "both", "arrowtail": "odiamond"},
}
EDGE_WORDS = {
    "handoff": "handoff",
    "tool": "tool",
    "agent_tool": "as tool",
    "input_guardrail": "input guardrail",
    "output_guardrail": "output guardrail",
    "clone": "clone",
    "runs": "runs",
    "then": "then",
    "route": "",  # its label is the condition: "if x == 'billing'", "else"
}


def _edge_words(edge: GraphEdge) -> str:
    return " ".join(word for word in (EDGE_WORDS[edge.kind], edge.label) if word)


@dataclass(frozen=True)
class DrawnNode:
    node: GraphNode
    status: Status
    entry: bool
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class DrawnEdge:
    edge: GraphEdge
    status: Status


@dataclass(frozen=True)
class Drawing:
    nodes: list[DrawnNode]
    edges: list[DrawnEdge]


Reason = Literal["too_many_nodes", "too_many_edges", "layout_too_slow", "layout_failed"]


class GraphNotDrawn(ValueError):
    """The graph is answered without its drawing; `reason` says why in one word, the
    message in a sentence."""

    reason: Reason = "layout_failed"

    def __init__(self, message: str, reason: Reason | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class GraphTooLarge(GraphNotDrawn):
    """More nodes than GRAPH_MAX_DRAWN_NODES, or edges than GRAPH_MAX_DRAWN_EDGES: the
    drawing would not be readable, and its layout could take minutes."""


class LayoutTooSlow(GraphNotDrawn):
    """`dot` ran past GRAPH_LAYOUT_TIMEOUT_SECONDS and was killed."""

    reason: Reason = "layout_too_slow"


def drawing_of(graph: WorkflowGraph) -> Drawing:
    entry = set(graph.entry)
    return Drawing(
        [DrawnNode(n, "", n.id in entry) for n in graph.nodes],
        [DrawnEdge(e, "") for e in graph.edges],
    )


def diff_drawing(base: WorkflowGraph, patched: WorkflowGraph, change: GraphChange) -> Drawing:
    """The patched graph, with what the change removed drawn back in."""
    entry = set(patched.entry)
    added, removed = set(change.nodes_added), set(change.nodes_removed)
    nodes = [
        DrawnNode(
            n,
            "added" if n.id in added else "changed" if n.id in change.nodes_changed else "",
            n.id in entry,
            tuple(change.nodes_changed.get(n.id, ())),
        )
        for n in patched.nodes
    ]
    nodes += [DrawnNode(n, "removed", False) for n in base.nodes if n.id in removed]
    edges_added = set(change.edges_added)
    edges = [DrawnEdge(e, "added" if e in edges_added else "") for e in patched.edges]
    edges += [DrawnEdge(e, "removed") for e in change.edges_removed]
    return Drawing(nodes, edges)


def _label_lines(drawn: DrawnNode) -> list[str]:
    node = drawn.node
    first = MARKS[drawn.status] + ("▶ " if drawn.entry else "") + node.label
    lines = [first]
    if node.kind == "agent" and node.clone_of and node.variable:
        lines.append(f"clone: {node.variable}")
    if node.kind == "agent" and node.model:
        lines.append(node.model)
    if node.kind == "tool" and node.tool_type == "hosted":
        lines.append("hosted tool")
    if node.kind == "unresolved":
        lines = [f"? {node.label}", f"unresolved, line {node.line}"]
    if drawn.changed:
        lines.append("changed: " + ", ".join(a.replace("_", " ") for a in drawn.changed))
    return lines


def to_svg(
    drawing: Drawing,
    link: Callable[[GraphNode], str | None] | None = None,
    focus: str | None = None,
) -> str:
    """An `<svg>` element for the page; `link(node)` gives a node's URL (or None), the
    `focus` node (an id) is drawn thicker."""
    if len(drawing.nodes) > settings.GRAPH_MAX_DRAWN_NODES:
        raise GraphTooLarge(
            f"The workflow has {len(drawing.nodes)} nodes; graphs of more than "
            f"{settings.GRAPH_MAX_DRAWN_NODES} (GRAPH_MAX_DRAWN_NODES) are not drawn.",
            "too_many_nodes",
        )
    if len(drawing.edges) > settings.GRAPH_MAX_DRAWN_EDGES:
        raise GraphTooLarge(
            f"The workflow has {len(drawing.edges)} edges; graphs of more than "
            f"{settings.GRAPH_MAX_DRAWN_EDGES} (GRAPH_MAX_DRAWN_EDGES) are not drawn.",
            "too_many_edges",
        )
    dot = graphviz.Digraph(
        graph_attr={"rankdir": "TB", "nodesep": "0.35", "ranksep": "0.45", "bgcolor": "none"},
        node_attr={"fontname": "Helvetica", "fontsize": "11", "margin": "0.12,0.06"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": "#475569"},
    )
    keys = {d.node.id: f"n{index}" for index, d in enumerate(drawing.nodes)}
    for drawn in drawing.nodes:
        node = drawn.node
        attributes = {
            "shape": SHAPES[node.kind],
            "id": f"g{keys[node.id]}",
            "class": f"{node.kind} {drawn.status}".strip(),
            "tooltip": graphviz.escape(
                (node.instructions or f"{node.kind} {node.label}") + f" (line {node.line})"
            ),
            "style": "rounded,filled" if node.kind == "agent" else "filled",
            "fillcolor": FILLS.get(drawn.status, "#ffffff"),
            "color": COLOURS.get(drawn.status, "#334155"),
        }
        if drawn.status == "removed" or node.kind == "unresolved":
            attributes["style"] += ",dashed"
        if drawn.status:
            attributes["penwidth"] = "2"
        if drawn.entry:
            attributes["peripheries"] = "2"
        if node.id == focus:
            attributes["penwidth"] = "3"
            attributes["class"] += " focused"
        url = link(node) if link else None
        if url:
            attributes["URL"] = url
        label = r"\n".join(graphviz.escape(line) for line in _label_lines(drawn))
        dot.node(keys[node.id], graphviz.nohtml(label), _attributes=attributes)
    for drawn_edge in drawing.edges:
        edge = drawn_edge.edge
        if edge.source not in keys or edge.target not in keys:
            continue
        words = _edge_words(edge)
        attributes = dict(EDGE_STYLES[edge.kind])
        if drawn_edge.status:
            words = MARKS[drawn_edge.status] + words
            attributes["color"] = COLOURS[drawn_edge.status]
            attributes["fontcolor"] = COLOURS[drawn_edge.status]
            attributes["penwidth"] = "2"
        attributes["class"] = f"{edge.kind} {drawn_edge.status}".strip()
        attributes["label"] = graphviz.escape(words)
        dot.edge(keys[edge.source], keys[edge.target], _attributes=attributes)
    return layout(dot.source)


def layout(source: str) -> str:
    """The cleaned `<svg>` of a DOT `source`; GraphNotDrawn when `dot` fails or runs out
    of time. Kept per source (and limit), the verdict "too slow" too: a page reloaded
    does not start the same hopeless layout again."""
    outcome = _layout(source, settings.GRAPHVIZ_DOT, float(settings.GRAPH_LAYOUT_TIMEOUT_SECONDS))
    if isinstance(outcome, GraphNotDrawn):
        raise type(outcome)(str(outcome), outcome.reason)  # a fresh one: no traceback kept
    return outcome


@functools.lru_cache(maxsize=64)
def _layout(source: str, program: str, timeout: float) -> "str | GraphNotDrawn":
    too_slow = LayoutTooSlow(
        f"Graphviz could not lay this graph out within {timeout:g} seconds "
        "(GRAPH_LAYOUT_TIMEOUT_SECONDS), so it is not drawn."
    )
    try:
        pipe = subprocess.PIPE
        process = subprocess.Popen([program, "-Tsvg"], stdin=pipe, stdout=pipe, stderr=pipe)
    except OSError as exc:
        _layout.cache_clear()  # an installation problem: nothing to remember
        raise GraphNotDrawn(
            f"Graphviz ({program}, GRAPHVIZ_DOT) cannot be run: {exc.strerror or exc}."
        ) from None
    with process:
        # The kernel's CPU limit too: should this server die (SIGKILL) mid-layout, the
        # orphaned `dot` still stops, instead of running on for minutes.
        cpu_seconds = math.ceil(timeout) + 1
        with contextlib.suppress(OSError, ValueError):
            resource.prlimit(process.pid, resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        try:
            stdout, stderr = process.communicate(source.encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return too_slow
    if process.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return too_slow
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip()[-500:]
        return GraphNotDrawn(f"Graphviz could not lay this graph out: {error}")
    return clean_svg(done.stdout.decode())


_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(r'\sstyle="[^"]*"')
_SVG_TAG = re.compile(r"<svg\b")


def clean_svg(svg: str) -> str:
    """Only the `<svg>` element (its natural size; the page's CSS shrinks it to fit), with
    no style attributes (the Content-Security-Policy would refuse them) and no comments."""
    svg = _COMMENT.sub("", _PROLOG.sub("", svg, count=1))
    svg = _STYLE_ATTRIBUTE.sub("", svg)
    svg = _SVG_TAG.sub('<svg class="graph-svg" role="img"', svg, count=1)
    return svg.strip()


# --- Mermaid ---------------------------------------------------------------------------
_MERMAID_SHAPES = {
    "agent": ('["', '"]'),
    "tool": ('(["', '"])'),
    "guardrail": ('{{"', '"}}'),
    "unresolved": ('>"', '"]'),
}
_MERMAID_ARROWS = {
    "handoff": "==>",
    "tool": "-.->",
    "agent_tool": "-.->",
    "input_guardrail": "-.-o",
    "output_guardrail": "-.-o",
    "clone": "-.->",
    "runs": "-->",
    "then": "-->",
    "route": "-.->",
}


def _mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label: quotes and markup characters as entities."""
    replacements = {'"': "#quot;", "#": "#35;", "<": "#lt;", ">": "#gt;", "|": "#124;"}
    return "".join(replacements.get(ch, ch) for ch in text.replace("\n", " "))


def to_mermaid(drawing: Drawing) -> str:
    """A Mermaid flowchart: paste it into a pull request or README."""
    keys = {d.node.id: f"n{index}" for index, d in enumerate(drawing.nodes)}
    lines = ["flowchart TB"]
    for drawn in drawing.nodes:
        opening, closing = _MERMAID_SHAPES[drawn.node.kind]
        label = "<br/>".join(_mermaid_text(line) for line in _label_lines(drawn))
        lines.append(f"    {keys[drawn.node.id]}{opening}{label}{closing}")
    for drawn_edge in drawing.edges:
        edge = drawn_edge.edge
        if edge.source not in keys or edge.target not in keys:
            continue
        words = MARKS[drawn_edge.status] + _edge_words(edge)
        arrow = _MERMAID_ARROWS[edge.kind]
        lines.append(
            f'    {keys[edge.source]} {arrow}|"{_mermaid_text(words)}"| {keys[edge.target]}'
        )
    lines += [
        "    classDef entry stroke-width:3px",
        "    classDef added fill:#dcfce7,stroke:#15803d",
        "    classDef removed fill:#fee2e2,stroke:#b91c1c,stroke-dasharray:4",
        "    classDef changed fill:#fef3c7,stroke:#b45309",
    ]
    for class_name in ("entry", "added", "removed", "changed"):
        members = [
            keys[d.node.id]
            for d in drawing.nodes
            if (d.entry if class_name == "entry" else d.status == class_name)
        ]
        if members:
            lines.append(f"    class {','.join(members)} {class_name}")
    return "\n".join(lines) + "\n"
