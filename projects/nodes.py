"""The agents of a workflow file (node sessions name one), read from its graph."""

from dataclasses import dataclass, field

from projects.graph.reader import build_graph


@dataclass(frozen=True)
class AgentNode:
    name: str
    variable: str | None
    start_line: int
    end_line: int
    handoffs: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)


def find_agents(code: str) -> list[AgentNode]:
    """Every agent in the file (`Agent(...)` and `.clone(...)`), in source order, with the
    names of its handoffs and tools. Raises ValueError on a syntax error."""
    graph = build_graph(code)
    labels = {node.id: node.label for node in graph.nodes}
    nodes = []
    for agent in graph.agents():
        tools = [
            edge.label or labels[edge.target]
            for edge in graph.edges
            if edge.source == agent.id and edge.kind in ("tool", "agent_tool")
        ]
        nodes.append(
            AgentNode(
                name=agent.label,
                variable=agent.variable,
                start_line=agent.line,
                end_line=agent.end_line,
                handoffs=[labels[t] for t in graph.targets(agent.id, "handoff")],
                tools=tools,
            )
        )
    return nodes
