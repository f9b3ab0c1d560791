"""The graph panels of the project and review pages (server-rendered SVG, no script needed)."""

from dataclasses import dataclass, field

from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from projects.git import repository as git
from projects.graph import GraphNode, Unresolved, build_graph
from projects.graph_render import to_mermaid
from projects.graph_service import project_page_url, project_svg, svg_or_reason
from projects.models import Project
from reviews.graph_views import diff_graph_of
from reviews.models import Diff


@dataclass
class ChangeLine:
    status: str  # added, removed, changed
    mark: str
    text: str


@dataclass
class GraphPanel:
    svg: SafeString | None = None
    error: str = ""
    nodes: list[GraphNode] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    focused: GraphNode | None = None
    changes: list[ChangeLine] = field(default_factory=list)
    mermaid: str = ""


def project_graph(project: Project, focus: str = "") -> GraphPanel:
    """The project's graph at HEAD; `focus` is a node id (its lines are highlighted)."""
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
    )


def code_html(code: str, focused: GraphNode | None) -> SafeString:
    """The code, highlighted, each line anchored (`#code-line-N`); a node's lines marked."""
    lines = list(range(focused.line, focused.end_line + 1)) if focused else []
    formatter = HtmlFormatter(
        linenos="table", cssclass="hl", wrapcode=True, hl_lines=lines, lineanchors="code-line"
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
