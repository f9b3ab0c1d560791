"""The agent graph of a workflow file, read with `ast`: which agents, handoffs and tools."""

import ast
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AgentNode:
    name: str
    variable: str | None
    start_line: int
    end_line: int
    handoffs: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)


def _is_agent_call(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "Agent") or (
        isinstance(func, ast.Attribute) and func.attr == "Agent"
    )


def _agent_name(call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
            return str(keyword.value.value)
    if call.args and isinstance(call.args[0], ast.Constant):
        return str(call.args[0].value)
    return None


def _names_in_list(call: ast.Call, argument: str) -> list[str]:
    for keyword in call.keywords:
        if keyword.arg == argument and isinstance(keyword.value, (ast.List, ast.Tuple)):
            names = []
            for element in keyword.value.elts:
                if _is_agent_call(element):  # an agent defined inline
                    assert isinstance(element, ast.Call)
                    names.append(_agent_name(element) or "Agent")
                    continue
                if isinstance(element, ast.Call):  # handoff(agent), FunctionTool(...), ...
                    element = element.args[0] if element.args else element.func
                if isinstance(element, ast.Name):
                    names.append(element.id)
                elif isinstance(element, ast.Attribute):
                    names.append(element.attr)
            return names
    return []


def find_agents(code: str) -> list[AgentNode]:
    """Every `Agent(...)` in the file, in source order. Raises ValueError on a syntax error."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ValueError(f"line {exc.lineno}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        # Stored code was validated, but a file from before that check could still be here.
        raise ValueError("the code is nested too deeply for the Python parser") from None
    found: list[tuple[ast.Call, str | None]] = []
    assigned: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, (ast.Assign, ast.AnnAssign))
            and node.value
            and _is_agent_call(node.value)
        ):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            variable = next((t.id for t in targets if isinstance(t, ast.Name)), None)
            assert isinstance(node.value, ast.Call)
            found.append((node.value, variable))
            assigned.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_agent_call(node) and id(node) not in assigned:
            found.append((node, None))
    by_variable = {variable: _agent_name(call) for call, variable in found if variable}
    nodes = []
    for call, variable in found:
        name = _agent_name(call)
        if name is None:
            continue
        nodes.append(
            AgentNode(
                name=name,
                variable=variable,
                start_line=call.lineno,
                end_line=call.end_lineno or call.lineno,
                handoffs=[by_variable.get(h) or h for h in _names_in_list(call, "handoffs")],
                tools=_names_in_list(call, "tools"),
            )
        )
    return sorted(nodes, key=lambda n: n.start_line)
