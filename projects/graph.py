"""The graph of a workflow file, read with `ast` only: the file is never imported or run.

Nodes are the file's agents, tools (`@function_tool` functions, hosted tools such as
`WebSearchTool()`, `FunctionTool(...)`), guardrails, and names the reader could not
resolve (kept with their line, never dropped). Edges say how they meet: an agent hands
off to another, uses a tool or an agent as a tool (`.as_tool(...)`), is checked by a
guardrail, is a `.clone(...)` of another; a tool or guardrail that calls `Runner.run`
on an agent "runs" it. The entry agents are those passed to `Runner.run*` elsewhere.

Names are followed through variables (`specialists = [a, b]`, `handoffs=specialists`),
`handoff(agent, ...)`, `X.handoffs.append(...)`, list concatenation and `*` unpacking,
the way the SDK's examples and Agent Builder's exported code build them.

The reader never raises on code that parses: it walks the tree without recursion, shows
a deep expression cut short, and whatever it cannot follow (an expression nested past
Python's recursion limit, a tree the parser could not build) becomes an "unresolved"
node with its line. Only code that is not Python (a syntax error, a null byte) is a
ValueError.
"""

import ast
import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

NodeKind = Literal["agent", "tool", "guardrail", "unresolved"]
EdgeKind = Literal[
    "handoff", "tool", "agent_tool", "input_guardrail", "output_guardrail", "clone", "runs"
]

HOSTED_TOOLS = frozenset(
    {
        "WebSearchTool",
        "FileSearchTool",
        "CodeInterpreterTool",
        "ComputerTool",
        "ImageGenerationTool",
        "HostedMCPTool",
        "LocalShellTool",
        "ShellTool",
        "ApplyPatchTool",
    }
)
RUNNER_METHODS = frozenset({"run", "run_sync", "run_streamed"})
AGENT_LISTS: dict[str, EdgeKind] = {
    "handoffs": "handoff",
    "tools": "tool",
    "input_guardrails": "input_guardrail",
    "output_guardrails": "output_guardrail",
}
# How deep expressions and variables are followed (a = b, b = [c], ...): enough for real
# files, and a bound on files written to loop.
MAX_DEPTH = 100
FIRST_LINE_CHARS = 120
# A label (an unresolved expression, an output type) shows this many levels of an
# expression; deeper parts read `...`. Keeps `ast.unparse`, which recurses, shallow.
SHOWN_LEVELS = 12
TOO_DEEP_TO_READ = "(this file: nested too deeply to read)"
READER_FAILED = "(this file: the graph reader failed on it; the server log has why)"

logger = logging.getLogger(__name__)


@dataclass
class GraphNode:
    id: str
    kind: NodeKind
    label: str
    line: int
    end_line: int
    variable: str | None = None
    model: str | None = None
    instructions: str | None = None  # its first line; the whole text is compared in diffs
    output_type: str | None = None
    tool_type: str | None = None  # function, hosted, custom (FunctionTool)
    clone_of: str | None = None
    # Not in the API (as_dict drops it): the schema skips fields marked api=False.
    full_instructions: str | None = field(default=None, repr=False, metadata={"api": False})

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["full_instructions"]
        return data


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    kind: EdgeKind
    label: str = ""


@dataclass(frozen=True)
class Unresolved:
    name: str
    line: int


@dataclass
class WorkflowGraph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    entry: list[str]
    unresolved: list[Unresolved]

    def node(self, node_id: str) -> GraphNode:
        return next(n for n in self.nodes if n.id == node_id)

    def agents(self) -> list[GraphNode]:
        return [n for n in self.nodes if n.kind == "agent"]

    def targets(self, source: str, *kinds: EdgeKind) -> list[str]:
        return [e.target for e in self.edges if e.source == source and e.kind in kinds]

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodes": [n.as_dict() for n in self.nodes],
            "edges": [asdict(e) for e in self.edges],
            "entry": list(self.entry),
            "unresolved": [asdict(u) for u in self.unresolved],
        }


def parse(code: str) -> ast.Module:
    """The module's tree, or ValueError naming the problem (with its line). Deep nesting
    raises RecursionError or MemoryError (the parser's guards)."""
    try:
        return ast.parse(code)
    except SyntaxError as exc:
        raise ValueError(f"line {exc.lineno}: {exc.msg}") from None


def build_graph(code: str) -> WorkflowGraph:
    """The graph of `code`. Raises ValueError only when it is not Python (a syntax
    error, a null byte); anything the reader cannot follow is reported as unresolved."""
    try:
        tree = parse(code)
    except (RecursionError, MemoryError):
        return _unreadable(TOO_DEEP_TO_READ)
    try:
        return _Reader(tree).read()
    except (RecursionError, MemoryError):
        return _unreadable(TOO_DEEP_TO_READ)
    except Exception:
        # A bug in the reader must not take the pages down with it: it is logged, and the
        # graph says the file could not be read.
        logger.exception("graph reader failed on a file that parses")
        return _unreadable(READER_FAILED)


def _unreadable(name: str) -> WorkflowGraph:
    """A graph of one unresolved node: the whole file, from line 1."""
    node = GraphNode(f"unresolved:{name}", "unresolved", name, 1, 1)
    return WorkflowGraph([node], [], [], [Unresolved(name, 1)])


def _callee(call: ast.Call) -> str:
    """`Agent` for `Agent(...)`, `agents.Agent(...)` and `Agent[Context](...)`; `clone`
    for `x.clone(...)`."""
    func = call.func.value if isinstance(call.func, ast.Subscript) else call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _keyword(call: ast.Call, name: str, position: int | None = None) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    if position is not None and len(call.args) > position:
        argument = call.args[position]
        return None if isinstance(argument, ast.Starred) else argument
    return None


def _string(expr: ast.expr | None) -> str | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return None


def _decorator_name(decorator: ast.expr) -> tuple[str, ast.Call | None]:
    call = decorator if isinstance(decorator, ast.Call) else None
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Name):
        return target.id, call
    if isinstance(target, ast.Attribute):
        return target.attr, call
    return "", call


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= FIRST_LINE_CHARS else line[: FIRST_LINE_CHARS - 1] + "…"


def _name(expr: ast.expr) -> str | None:
    """`x` for `x`, `y` for `x.y`: how a name or attribute is looked up."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def _shown(node: ast.AST, levels: int) -> ast.AST:
    """A copy of `node` whose expressions below `levels` levels are `...`."""
    if levels <= 0 and isinstance(node, ast.expr):
        return ast.Constant(value=...)
    fields: dict[str, Any] = {}
    for name, value in ast.iter_fields(node):
        if isinstance(value, ast.AST):
            value = _shown(value, levels - 1)
        elif isinstance(value, list):
            value = [_shown(v, levels - 1) if isinstance(v, ast.AST) else v for v in value]
        fields[name] = value
    return type(node)(**fields)


def _deeper_than(expr: ast.AST, levels: int) -> bool:
    stack = [(expr, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > levels:
            return True
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return False


def _source(expr: ast.expr, limit: int = 80) -> str:
    shown = _shown(expr, SHOWN_LEVELS) if _deeper_than(expr, SHOWN_LEVELS) else expr
    try:
        text = ast.unparse(shown)
    except Exception:  # `...` where unparse wants text (in an f-string), a deep stack
        text = f"({type(expr).__name__} expression, line {expr.lineno})"
    return text if len(text) <= limit else text[: limit - 1] + "…"


_Target = tuple[str, str]  # (node id, label for an agent used as a tool, else "")


class _Reader:
    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.nodes: dict[str, GraphNode] = {}
        self.edges: list[GraphEdge] = []
        self.unresolved: list[Unresolved] = []
        self.bindings: dict[str, list[ast.expr]] = {}
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.function_nodes: dict[str, str] = {}  # function name -> tool/guardrail node id
        self.call_nodes: dict[int, str] = {}  # id(Agent(...) / clone / hosted call) -> node id
        self.variable_of: dict[int, str] = {}  # id(value expression) -> the name bound to it
        self.resolving: set[str] = set()  # names being followed: `a = a + [b]` stops
        self.resolved: dict[str, list[_Target]] = {}  # what a variable was found to hold

    # --- pass 1: what the file defines -------------------------------------------------
    def read(self) -> WorkflowGraph:
        # One walk, kept: the passes below read every node in the same (breadth-first) order.
        everything = list(ast.walk(self.tree))
        for statement in everything:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions.setdefault(statement.name, statement)
                self._define_function(statement)
            elif isinstance(statement, ast.Assign):
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        self._bind(target.id, statement.value)
                    elif isinstance(target, ast.Attribute) and target.attr not in AGENT_LISTS:
                        # `self.expert = Agent(...)` in a class, read as `self.expert`.
                        self._bind(target.attr, statement.value)
            elif (
                isinstance(statement, ast.AnnAssign)
                and statement.value is not None
                and isinstance(statement.target, ast.Name)
            ):
                self._bind(statement.target.id, statement.value)
        calls = sorted(
            (n for n in everything if isinstance(n, ast.Call)),
            key=lambda n: (n.lineno, n.col_offset),
        )
        for call in calls:
            if _callee(call) == "Agent":
                self._define_agent(call)
        # Clones after every agent, so a clone of an agent defined further down resolves.
        for call in calls:
            if _callee(call) == "clone" and isinstance(call.func, ast.Attribute):
                self._define_clone(call)
        # --- pass 2: how they meet ------------------------------------------------------
        for call in calls:
            node_id = self.call_nodes.get(id(call))
            if node_id is not None and self.nodes[node_id].kind == "agent":
                for argument, kind in AGENT_LISTS.items():
                    value = _keyword(call, argument)
                    if value is not None:
                        self._connect(node_id, value, kind)
        self._read_mutations(everything)
        entry = self._read_runs()
        nodes = sorted(self.nodes.values(), key=lambda n: (n.line, n.id))
        edges = list(dict.fromkeys(self.edges))
        unresolved = list(dict.fromkeys(self.unresolved))
        return WorkflowGraph(nodes, edges, entry, unresolved)

    def _bind(self, name: str, value: ast.expr) -> None:
        self.bindings.setdefault(name, []).append(value)
        self.variable_of.setdefault(id(value), name)

    def _add(self, node: GraphNode) -> GraphNode:
        if node.id in self.nodes:  # two agents with one name: the later one gets its line
            node.id = f"{node.id}@{node.line}"
        self.nodes[node.id] = node
        return node

    def _define_function(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # From its first decorator: the lines a person reads as the tool.
        first_line = min([function.lineno] + [d.lineno for d in function.decorator_list])
        for decorator in function.decorator_list:
            name, call = _decorator_name(decorator)
            if name == "function_tool":
                label = _string(_keyword(call, "name_override")) if call else None
                label = label or function.name
                node = GraphNode(
                    f"tool:{label}", "tool", label, first_line,
                    function.end_lineno or function.lineno, variable=function.name,
                    tool_type="function",
                )  # fmt: skip
            elif name in ("input_guardrail", "output_guardrail"):
                label = (_string(_keyword(call, "name")) if call else None) or function.name
                node = GraphNode(
                    f"guardrail:{label}", "guardrail", label, first_line,
                    function.end_lineno or function.lineno, variable=function.name,
                    tool_type=name,
                )  # fmt: skip
            else:
                continue
            self.function_nodes[function.name] = self._add(node).id
            return

    def _define_agent(self, call: ast.Call) -> None:
        variable = self.variable_of.get(id(call))
        name = _string(_keyword(call, "name", 0)) or variable or f"Agent (line {call.lineno})"
        node = GraphNode(
            f"agent:{name}", "agent", name, call.lineno, call.end_lineno or call.lineno,
            variable=variable,
        )  # fmt: skip
        self._set_attributes(node, call)
        self.call_nodes[id(call)] = self._add(node).id

    def _define_clone(self, call: ast.Call) -> None:
        assert isinstance(call.func, ast.Attribute)
        sources = [t for t, _ in self._followed(call.func.value) if self.nodes[t].kind == "agent"]
        if not sources:
            return  # `.clone()` of something that is not an agent we know: not ours
        source = self.nodes[sources[0]]
        variable = self.variable_of.get(id(call))
        # Like the SDK: a clone keeps its source's name unless it is given one.
        name = _string(_keyword(call, "name")) or source.label
        node = GraphNode(
            f"agent:{name}", "agent", name, call.lineno, call.end_lineno or call.lineno,
            variable=variable, model=source.model, instructions=source.instructions,
            output_type=source.output_type, clone_of=source.id,
            full_instructions=source.full_instructions,
        )  # fmt: skip
        self._set_attributes(node, call)
        node_id = self._add(node).id
        self.call_nodes[id(call)] = node_id
        self.edges.append(GraphEdge(source.id, node_id, "clone"))
        # A clone keeps the lists it does not replace.
        for argument, kind in AGENT_LISTS.items():
            if _keyword(call, argument) is None:
                for edge in [e for e in self.edges if e.source == source.id]:
                    if edge.kind == kind or (kind == "tool" and edge.kind == "agent_tool"):
                        self.edges.append(GraphEdge(node_id, edge.target, edge.kind, edge.label))

    def _set_attributes(self, node: GraphNode, call: ast.Call) -> None:
        model = _keyword(call, "model")
        if model is not None:
            node.model = self._constant_text(model)
        instructions = _keyword(call, "instructions")
        if instructions is not None:
            text = self._instructions_text(instructions)
            node.full_instructions = text
            node.instructions = _first_line(text)
        output_type = _keyword(call, "output_type")
        if output_type is not None:
            node.output_type = _source(output_type)

    def _constant_text(self, expr: ast.expr, depth: int = 0) -> str:
        text = _string(expr)
        if text is not None:
            return text
        if isinstance(expr, ast.Name) and depth < MAX_DEPTH:
            values = self.bindings.get(expr.id, [])
            if len(values) == 1:
                return self._constant_text(values[0], depth + 1)
        return _source(expr)

    def _instructions_text(self, expr: ast.expr) -> str:
        if isinstance(expr, ast.Name) and expr.id in self.functions:
            return f"(dynamic: {expr.id})"
        if isinstance(expr, ast.Lambda):
            return "(dynamic: lambda)"
        return self._constant_text(expr)

    # --- resolving names -----------------------------------------------------------------
    def _unresolved(self, expr: ast.expr) -> list[_Target]:
        name = _source(expr, 60)
        node_id = f"unresolved:{name}"
        if node_id not in self.nodes:
            self.nodes[node_id] = GraphNode(node_id, "unresolved", name, expr.lineno, expr.lineno)
        self.unresolved.append(Unresolved(name, expr.lineno))
        return [(node_id, "")]

    def _resolve(self, expr: ast.expr, depth: int = 0) -> list[_Target]:
        """The nodes `expr` stands for; unresolved ones become "unresolved" nodes."""
        if depth > MAX_DEPTH:
            return self._unresolved(expr)
        if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
            return [t for element in expr.elts for t in self._resolve(element, depth + 1)]
        if isinstance(expr, ast.Starred):
            return self._resolve(expr.value, depth + 1)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return self._resolve(expr.left, depth + 1) + self._resolve(expr.right, depth + 1)
        if isinstance(expr, ast.Constant) and expr.value is None:
            return []
        if isinstance(expr, ast.Call):
            return self._resolve_call(expr, depth)
        name = (
            expr.id
            if isinstance(expr, ast.Name)
            else expr.attr
            if isinstance(expr, ast.Attribute)
            else None
        )
        if name is None:
            return self._unresolved(expr)
        if name in self.function_nodes:
            return [(self.function_nodes[name], "")]
        if name in self.resolved:
            known = [t for t in self.resolved[name] if t[0] in self.nodes]
            return known or self._unresolved(expr)
        found: list[_Target] = []
        if name not in self.resolving:
            self.resolving.add(name)
            try:
                for value in self.bindings.get(name, []):
                    found += self._resolve_quietly(value, depth + 1)
            finally:
                self.resolving.discard(name)
            # Once per name, each target once: `x2 = [x1, x1]; x3 = [x2, x2]; ...` stays
            # linear instead of doubling at every step.
            found = list(dict.fromkeys(found))
            self.resolved[name] = found
        return found or self._unresolved(expr)

    def _followed(self, expr: ast.expr, quietly: bool = False) -> list[_Target]:
        """What `expr` stands for, as far as the stack allows: an expression that runs
        into Python's recursion limit is unresolved (or, `quietly`, nothing)."""
        try:
            found = self._resolve_quietly(expr, 0) if quietly else self._resolve(expr)
        except RecursionError:
            return [] if quietly else self._unresolved(expr)
        return [t for t in found if t[0] in self.nodes]

    def _resolve_quietly(self, expr: ast.expr, depth: int) -> list[_Target]:
        """Resolve one of a variable's values; a value that resolves to nothing known is
        not reported (`current = result.last_agent` next to `current = triage_agent`)."""
        before = (len(self.unresolved), set(self.nodes))
        found = self._resolve(expr, depth)
        if all(t[0].startswith("unresolved:") for t in found):
            del self.unresolved[before[0] :]
            for node_id in set(self.nodes) - before[1]:
                del self.nodes[node_id]
            return []
        return found

    def _resolve_call(self, call: ast.Call, depth: int) -> list[_Target]:
        known = self.call_nodes.get(id(call))
        if known is not None:
            return [(known, "")]
        callee = _callee(call)
        if callee == "handoff":
            agent = _keyword(call, "agent", 0)
            return self._resolve(agent, depth + 1) if agent is not None else []
        if callee == "as_tool" and isinstance(call.func, ast.Attribute):
            label = _string(_keyword(call, "tool_name", 0)) or ""
            return [(t, label) for t, _ in self._resolve(call.func.value, depth + 1)]
        if callee == "function_tool" and call.args:
            return self._resolve(call.args[0], depth + 1)
        if callee in ("InputGuardrail", "OutputGuardrail"):
            function = _keyword(call, "guardrail_function", 0)
            if function is not None:
                return self._resolve(function, depth + 1)
        if callee in HOSTED_TOOLS or callee == "FunctionTool":
            return [(self._tool_call(call, callee), "")]
        return self._unresolved(call)

    def _tool_call(self, call: ast.Call, callee: str) -> str:
        label = callee
        tool_type = "hosted"
        if callee == "FunctionTool":
            label = _string(_keyword(call, "name")) or self.variable_of.get(id(call)) or callee
            tool_type = "custom"
        node = GraphNode(
            f"tool:{label}", "tool", label, call.lineno, call.end_lineno or call.lineno,
            variable=self.variable_of.get(id(call)), tool_type=tool_type,
        )  # fmt: skip
        node_id = self._add(node).id
        self.call_nodes[id(call)] = node_id
        return node_id

    # --- edges -------------------------------------------------------------------------
    def _connect(self, source: str, value: ast.expr, kind: EdgeKind) -> None:
        for target, label in self._followed(value):
            edge_kind = kind
            if kind == "tool" and self.nodes[target].kind == "agent":
                edge_kind = "agent_tool"
            self.edges.append(GraphEdge(source, target, edge_kind, label))

    def _read_mutations(self, everything: list[ast.AST]) -> None:
        """`triage.handoffs.append(faq)`, `.extend([...])`, `agent.tools = [...]`."""
        for statement in everything:
            if (
                isinstance(statement, ast.Call)
                and isinstance(statement.func, ast.Attribute)
                and statement.func.attr in ("append", "extend", "insert")
                and isinstance(statement.func.value, ast.Attribute)
                and statement.func.value.attr in AGENT_LISTS
                and statement.args
            ):
                owner = statement.func.value.value
                kind = AGENT_LISTS[statement.func.value.attr]
                value = statement.args[-1]
            elif (
                isinstance(statement, ast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Attribute)
                and statement.targets[0].attr in AGENT_LISTS
            ):
                owner = statement.targets[0].value
                kind = AGENT_LISTS[statement.targets[0].attr]
                value = statement.value
            else:
                continue
            for source, _ in self._followed(owner, quietly=True):
                if self.nodes[source].kind == "agent":
                    self._connect(source, value, kind)

    def _read_runs(self) -> list[str]:
        """Entry agents; `Runner.run` inside a tool or guardrail is an edge instead.

        Depth first in source order, with a stack of its own: the tree may be deeper than
        Python's recursion limit allows a visitor to go."""
        entry: list[str] = []
        stack: list[tuple[ast.AST, str | None]] = [
            (child, None) for child in reversed(list(ast.iter_child_nodes(self.tree)))
        ]
        while stack:
            node, owner = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                owner = self.function_nodes.get(node.name, owner)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in RUNNER_METHODS
                and _name(node.func.value) == "Runner"
            ):
                agent = _keyword(node, "starting_agent", 0)
                if agent is not None:
                    for target, _ in self._followed(agent):
                        if owner is None:
                            entry.append(target)
                        else:
                            self.edges.append(GraphEdge(owner, target, "runs"))
            stack.extend((child, owner) for child in reversed(list(ast.iter_child_nodes(node))))
        return list(dict.fromkeys(entry))


# --- the change between two graphs ---------------------------------------------------
COMPARED = ("instructions", "model", "output_type", "tools", "handoffs", "guardrails")


def _attributes(graph: WorkflowGraph, node: GraphNode) -> dict[str, object]:
    return {
        "instructions": node.full_instructions,
        "model": node.model,
        "output_type": node.output_type,
        "tools": sorted(graph.targets(node.id, "tool", "agent_tool")),
        "handoffs": sorted(graph.targets(node.id, "handoff")),
        "guardrails": sorted(graph.targets(node.id, "input_guardrail", "output_guardrail")),
    }


@dataclass
class GraphChange:
    nodes_added: list[str]
    nodes_removed: list[str]
    nodes_changed: dict[str, list[str]]  # node id -> the attributes that changed
    edges_added: list[GraphEdge]
    edges_removed: list[GraphEdge]

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodes_added": self.nodes_added,
            "nodes_removed": self.nodes_removed,
            "nodes_changed": [
                {"id": node_id, "attributes": attributes}
                for node_id, attributes in self.nodes_changed.items()
            ],
            "edges_added": [asdict(e) for e in self.edges_added],
            "edges_removed": [asdict(e) for e in self.edges_removed],
        }

    def is_empty(self) -> bool:
        return not (
            self.nodes_added
            or self.nodes_removed
            or self.nodes_changed
            or self.edges_added
            or self.edges_removed
        )


def diff_graphs(base: WorkflowGraph, patched: WorkflowGraph) -> GraphChange:
    """Nodes are matched by id (an agent by its name, a tool by its name): a renamed
    agent or tool is one removed and one added."""
    before = {n.id: n for n in base.nodes}
    after = {n.id: n for n in patched.nodes}
    changed: dict[str, list[str]] = {}
    for node_id in before.keys() & after.keys():
        old = _attributes(base, before[node_id])
        new = _attributes(patched, after[node_id])
        differing = [name for name in COMPARED if old[name] != new[name]]
        if differing:
            changed[node_id] = differing
    old_edges, new_edges = set(base.edges), set(patched.edges)
    return GraphChange(
        nodes_added=[n.id for n in patched.nodes if n.id not in before],
        nodes_removed=[n.id for n in base.nodes if n.id not in after],
        nodes_changed={n.id: changed[n.id] for n in patched.nodes if n.id in changed},
        edges_added=[e for e in patched.edges if e not in old_edges],
        edges_removed=[e for e in base.edges if e not in new_edges],
    )
