"""The graph panels of the project and review pages (server-rendered SVG, no script needed).

The project page also carries each node's details, rendered hidden beside the graph: its
node inspector (static/node_inspector.js) shows one when the node is clicked, so looking
at a node neither reloads the page nor replaces the conversation.
"""

from dataclasses import dataclass, field

from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from projects import git
from projects.graph.reader import GraphEdge, GraphNode, Unresolved, WorkflowGraph, build_graph
from projects.graph.render import to_mermaid
from projects.graph.service import project_page_url, project_svg, svg_or_reason
from projects.models import Project
from reviews.graph_views import diff_graph_of
from reviews.models import Diff


@dataclass
class ChangeLine:
    status: str  # added, removed, changed
    mark: str
    text: str


# Instructions longer than this (characters, or lines) are folded in the inspector.
FOLDED_CHARS = 400
FOLDED_LINES = 6
# Outgoing edges by what the inspector calls them; a kind not named here is "other".
TOOL_EDGES = ("tool", "agent_tool")
GUARDRAIL_EDGES = ("input_guardrail", "output_guardrail")


@dataclass(frozen=True)
class Neighbour:
    """A node at the other end of an edge, and how the edge reads ("handoff", "as tool")."""

    id: str
    label: str
    kind: str
    line: int
    words: str


@dataclass
class NodeDetails:
    """What the node inspector shows of one node."""

    node: GraphNode
    entry: bool
    instructions: str
    handoffs: list[Neighbour]
    tools: list[Neighbour]
    guardrails: list[Neighbour]
    other_out: list[Neighbour]
    incoming: list[Neighbour]

    @property
    def folded(self) -> bool:
        text = self.instructions
        return len(text) > FOLDED_CHARS or text.count("\n") >= FOLDED_LINES


def node_details(graph: WorkflowGraph) -> list[NodeDetails]:
    """Every node with its whole instructions and its edges, sorted by what they are."""
    by_id = {n.id: n for n in graph.nodes}

    def neighbour(edge: GraphEdge, node_id: str) -> Neighbour:
        other = by_id.get(node_id)
        words = edge.kind.replace("_", " ") + (f" {edge.label}" if edge.label else "")
        if other is None:  # an edge always ends at a node today; a bare id if not
            return Neighbour(node_id, node_id, "", 0, words)
        return Neighbour(other.id, other.label, other.kind, other.line, words)

    details = []
    for node in graph.nodes:
        out = [e for e in graph.edges if e.source == node.id]
        details.append(
            NodeDetails(
                node=node,
                entry=node.id in graph.entry,
                instructions=node.full_instructions or node.instructions or "",
                handoffs=[neighbour(e, e.target) for e in out if e.kind == "handoff"],
                tools=[neighbour(e, e.target) for e in out if e.kind in TOOL_EDGES],
                guardrails=[neighbour(e, e.target) for e in out if e.kind in GUARDRAIL_EDGES],
                other_out=[
                    neighbour(e, e.target)
                    for e in out
                    if e.kind not in ("handoff", *TOOL_EDGES, *GUARDRAIL_EDGES)
                ],
                incoming=[neighbour(e, e.source) for e in graph.edges if e.target == node.id],
            )
        )
    return details


@dataclass
class GraphPanel:
    svg: SafeString | None = None
    error: str = ""
    nodes: list[GraphNode] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    focused: GraphNode | None = None
    changes: list[ChangeLine] = field(default_factory=list)
    mermaid: str = ""
    details: list[NodeDetails] = field(default_factory=list)


def project_graph(project: Project, focus: str = "") -> GraphPanel:
    """The project's graph at HEAD, with each node's details for the inspector; `focus`
    is a node id (its lines are highlighted)."""
    try:
        graph = build_graph(project.current_code)
    except ValueError as exc:
        return GraphPanel(error=f"The code does not parse: {exc}")
    focused = next((n for n in graph.nodes if n.id == focus), None)
    drawn = project_svg(
        project.current_code, project_page_url(project), focused.id if focused else None
    )
    return GraphPanel(
        # Graphviz escapes every name and label; clean_svg removed what CSP would refuse.
        svg=mark_safe(drawn.svg) if drawn.svg else None,
        error=drawn.error,
        nodes=graph.nodes,
        unresolved=graph.unresolved,
        focused=focused,
        details=node_details(graph),
    )


def code_html(code: str, focused: GraphNode | None) -> SafeString:
    """The code, highlighted, each line anchored (`#code-line-N`) and in its own span
    (`#code-span-N`, which the node inspector marks); a node's lines marked."""
    lines = list(range(focused.line, focused.end_line + 1)) if focused else []
    formatter = HtmlFormatter(
        linenos="table",
        cssclass="hl",
        wrapcode=True,
        hl_lines=lines,
        lineanchors="code-line",
        linespans="code-span",
    )
    # Pygments escapes the code: the markup is its own.
    return mark_safe(highlight(code, PythonLexer(), formatter))


def diff_graph(diff: Diff) -> GraphPanel:
    """The graph of the patched file with what the diff adds, removes and changes marked."""
    try:
        graphs = diff_graph_of(diff)
    except git.GitError as exc:
        return GraphPanel(error=f"The diff's base is not in the repository: {exc}")
    except ValueError as exc:
        return GraphPanel(error=f"The code does not parse: {exc}")
    drawing = graphs.drawing()
    drawn = svg_or_reason(drawing)
    change = graphs.change
    labels = {n.id: n.label for n in [*graphs.base.nodes, *graphs.patched.nodes]}
    kinds = {n.id: n.kind for n in [*graphs.base.nodes, *graphs.patched.nodes]}
    changes = [ChangeLine("added", "+", f"{kinds[i]} {labels[i]}") for i in change.nodes_added]
    changes += [
        ChangeLine("removed", "\u2212", f"{kinds[i]} {labels[i]}") for i in change.nodes_removed
    ]
    changes += [
        ChangeLine("changed", "~", f"{kinds[i]} {labels[i]}: {', '.join(a)}".replace("_", " "))
        for i, a in change.nodes_changed.items()
    ]
    for status, mark, edges in (
        ("added", "+", change.edges_added),
        ("removed", "\u2212", change.edges_removed),
    ):
        changes += [
            ChangeLine(
                status, mark, f"{e.kind.replace('_', ' ')}: {labels[e.source]} → {labels[e.target]}"
            )
            for e in edges
        ]
    return GraphPanel(
        svg=mark_safe(drawn.svg) if drawn.svg else None,
        error=drawn.error,
        nodes=graphs.patched.nodes,
        unresolved=graphs.patched.unresolved,
        changes=changes,
        mermaid=to_mermaid(drawing),
    )
