"""The graph of a workflow file, read with `ast` only: the file is never imported or run.

Nodes are the file's agents, tools (`@function_tool` functions, hosted tools such as
`WebSearchTool()`, `FunctionTool(...)`), guardrails, and names the reader could not
resolve (kept with their line, never dropped). Edges say how they meet: an agent hands
off to another, uses a tool or an agent as a tool (`.as_tool(...)`), is checked by a
guardrail, is a `.clone(...)` of another; a tool or guardrail that calls `Runner.run`
on an agent "runs" it.

Code that runs agents one after another (`Runner.run*` in a function, the way Agent
Builder's export and the SDK's deterministic examples do) is read in statement order:
an agent run after another gets a "then" edge from it, and one run inside an
`if`/`elif`/`else`, `match` or `except` branch a "route" edge labelled with the
condition, from the agent whose result the condition reads (else from the agent run
before). The entry agents are those run first, with no agent run before them.

Functions defined in the file are tools or guardrails where an agent lists them
(`InputGuardrail(guardrail_function=check)`, `function_tool(lookup)`), decorated or
not; an agent built by a factory (`def make_agent(name, ...): return Agent(name=name,
...)`) is one node per call, named from the call's arguments.

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
    "handoff",
    "tool",
    "agent_tool",
    "input_guardrail",
    "output_guardrail",
    "clone",
    "runs",
    "then",
    "route",
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
# A route's label: each condition shortened to this, the whole label to ROUTE_LABEL_CHARS.
CONDITION_CHARS = 40
ROUTE_LABEL_CHARS = 80
# Blocks (if, for, try, ...) followed one inside another when reading the order of runs;
# deeper ones are read as one statement. Real code stays far below; it bounds the stack.
FLOW_BLOCKS = 20
# Bounds on what a file written to branch everywhere costs (thousands of `if`s, each
# running one of hundreds of agents): the ways carried from one run to the next (beyond,
# the most recent are kept), and the "then" and "route" edges a file gets (beyond, runs
# are still read for the entry agents, without edges).
MAX_FLOWS = 32
MAX_FLOW_EDGES = 5_000
# What a function an agent lists becomes, by the list it is in.
FUNCTION_ROLES: dict[str, NodeKind] = {
    "tool": "tool",
    "input_guardrail": "guardrail",
    "output_guardrail": "guardrail",
}
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


def _source(expr: ast.AST, limit: int = 80) -> str:
    shown = _shown(expr, SHOWN_LEVELS) if _deeper_than(expr, SHOWN_LEVELS) else expr
    try:
        text = ast.unparse(shown)
    except Exception:  # `...` where unparse wants text (in an f-string), a deep stack
        text = f"({type(expr).__name__} expression, line {getattr(expr, 'lineno', 0)})"
    return _shortened(text, limit)


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_run(node: ast.AST) -> bool:
    """`Runner.run(...)`, `Runner.run_sync(...)`, `agents.Runner.run_streamed(...)`."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in RUNNER_METHODS
        and _name(node.func.value) == "Runner"
    )


def _position(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)


# A branch's condition: its test (an `if` or `while`), its `case`, or a word ("else").
_Condition = ast.expr | ast.match_case | str


def _condition_text(condition: _Condition) -> str:
    if isinstance(condition, str):
        return condition
    if isinstance(condition, ast.match_case):
        text = "case " + _source(condition.pattern, CONDITION_CHARS)
        if condition.guard is not None:
            text += " if " + _source(condition.guard, CONDITION_CHARS)
        return text
    return "if " + _test_text(condition)


_OPERATORS = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}  # fmt: skip


def _test_text(test: ast.expr) -> str:
    """A condition, shortened; a comparison loses the start of its left side, not the
    value it compares with: `…['classification'] == 'billing'`."""
    text = _source(test, CONDITION_CHARS)
    if len(text) < CONDITION_CHARS or not (
        isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in _OPERATORS
    ):
        return text
    right = f" {_OPERATORS[type(test.ops[0])]} {_source(test.comparators[0], CONDITION_CHARS // 2)}"
    left = _source(test.left, 2 * CONDITION_CHARS)
    room = max(CONDITION_CHARS - len(right), 8)
    return (left if len(left) <= room else "…" + left[-(room - 1) :]) + right


def _route_label(conditions: tuple[_Condition, ...]) -> str:
    """The conditions on the way to a run, outermost first: `if a; else`."""
    return _shortened("; ".join(_condition_text(c) for c in conditions), ROUTE_LABEL_CHARS)


def _bound_arguments(
    function: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call
) -> dict[str, ast.expr]:
    """The expressions a call gives its function's parameters (defaults where it gives
    none); a parameter filled by `*args` or `**kwargs` is left out."""
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args]
    if positional and positional[0].arg in ("self", "cls") and isinstance(call.func, ast.Attribute):
        positional = positional[1:]  # `self.make_agent(...)`: `self` is not in the call
    bound: dict[str, ast.expr] = {}
    every = [*arguments.posonlyargs, *arguments.args]  # defaults belong to the last ones
    with_defaults = every[len(every) - len(arguments.defaults) :]
    for parameter, default in zip(with_defaults, arguments.defaults, strict=True):
        bound[parameter.arg] = default
    for parameter, kw_default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        if kw_default is not None:
            bound[parameter.arg] = kw_default
    for parameter, value in zip(positional, call.args, strict=False):
        if isinstance(value, ast.Starred):
            break
        bound[parameter.arg] = value
    by_keyword = {p.arg for p in arguments.args} | {p.arg for p in arguments.kwonlyargs}
    for keyword in call.keywords:
        if keyword.arg is not None and keyword.arg in by_keyword:
            bound[keyword.arg] = keyword.value
    return bound


def _argument(expr: ast.expr | None, bound: dict[str, ast.expr]) -> ast.expr | None:
    """`expr`, or what the call gave it where it is one of the factory's parameters."""
    if isinstance(expr, ast.Name) and expr.id in bound:
        return bound[expr.id]
    return expr


def _factory_text(expr: ast.expr | None, bound: dict[str, ast.expr]) -> str | None:
    """The text of a string (or an f-string of parameters given strings) in a factory."""
    expr = _argument(expr, bound)
    text = _string(expr)
    if text is not None or not isinstance(expr, ast.JoinedStr):
        return text
    parts: list[str] = []
    for value in expr.values:
        part = _string(value)
        if (
            isinstance(value, ast.FormattedValue)
            and value.conversion == -1
            and value.format_spec is None
            and isinstance(value.value, ast.Name)
        ):
            part = _string(bound.get(value.value.id))
        if part is None:
            return None
        parts.append(part)
    return "".join(parts)


_Target = tuple[str, str]  # (node id, label for an agent used as a tool, else "")
# How the next agent run is reached: (from node id, edge kind, the conditions on the way).
# No flows: nothing ran before, the next agent run is an entry.
_Flow = tuple[str, EdgeKind, tuple[_Condition, ...]]
_Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class _Factory:
    """A function that returns an `Agent(...)` it builds from its parameters."""

    function: _Function
    agent: ast.Call


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
        self.module_functions: dict[str, _Function] = {
            s.name: s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        # The list being read (tools, a guardrail list): a function named in it is one.
        self.role: EdgeKind | None = None
        self.factories: dict[str, _Factory] = {}
        # While a factory's agent is read: its parameters, bound to what the call gave.
        self.bound: dict[str, ast.expr] = {}
        self.built_by: dict[int, tuple[_Factory, dict[str, ast.expr]]] = {}  # id(call) ->
        self.entry: list[tuple[tuple[int, int], str]] = []  # (where it runs, node id)
        self.flow_edges = 0
        self.labels: dict[tuple[_Condition, ...], str] = {}  # each label unparsed once

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
        self._find_factories(calls)
        made_by_factories = {id(f.agent) for f, _ in self.built_by.values()}
        for call in calls:
            if id(call) in self.built_by:
                self._define_built_agent(call)
            elif _callee(call) == "Agent" and id(call) not in made_by_factories:
                self._define_agent(call)
        # Clones after every agent, so a clone of an agent defined further down resolves.
        for call in calls:
            if _callee(call) == "clone" and isinstance(call.func, ast.Attribute):
                self._define_clone(call)
        # --- pass 2: how they meet ------------------------------------------------------
        for call in calls:
            node_id = self.call_nodes.get(id(call))
            if node_id is not None and self.nodes[node_id].kind == "agent":
                agent_call, bound = call, dict[str, ast.expr]()
                if id(call) in self.built_by:
                    factory, bound = self.built_by[id(call)]
                    agent_call = factory.agent
                self.bound = bound
                for argument, kind in AGENT_LISTS.items():
                    value = _keyword(agent_call, argument)
                    if value is not None:
                        self._connect(node_id, value, kind)
                self.bound = {}
        self._read_mutations(everything)
        self._read_runs()
        entry = [node_id for _, node_id in sorted(self.entry, key=lambda e: e[0])]
        entry = [node_id for node_id in dict.fromkeys(entry) if node_id in self.nodes]
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

    def _find_factories(self, calls: list[ast.Call]) -> None:
        """Functions returning an `Agent(...)` that reads their parameters, and their calls."""
        for name, function in self.functions.items():
            agent = self._returned_agent(function)
            if agent is None:
                continue
            parameters = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
            used = {n.id for n in ast.walk(agent) if isinstance(n, ast.Name)}
            if parameters & used:
                self.factories[name] = _Factory(function, agent)
        if not self.factories:
            return
        for call in calls:
            factory = self.factories.get(_callee(call))
            if factory is not None and not isinstance(call.func, ast.Subscript):
                self.built_by[id(call)] = (factory, _bound_arguments(factory.function, call))

    @staticmethod
    def _returned_agent(function: _Function) -> ast.Call | None:
        """The `Agent(...)` a function returns: `return Agent(...)`, or `agent = Agent(...)`
        then `return agent`, in the function's own statements."""
        assigned: dict[str, ast.Call] = {}
        for statement in function.body:
            if (
                isinstance(statement, ast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and isinstance(statement.value, ast.Call)
                and _callee(statement.value) == "Agent"
            ):
                assigned[statement.targets[0].id] = statement.value
            elif isinstance(statement, ast.Return) and statement.value is not None:
                value = statement.value
                if isinstance(value, ast.Name):
                    return assigned.get(value.id)
                if isinstance(value, ast.Call) and _callee(value) == "Agent":
                    return value
                return None
        return None

    def _define_built_agent(self, call: ast.Call) -> None:
        """The agent a factory's call builds: named from the call, its line the call's."""
        factory, bound = self.built_by[id(call)]
        variable = self.variable_of.get(id(call))
        name = (
            _factory_text(_keyword(factory.agent, "name", 0), bound)
            or variable
            or f"{factory.function.name} (line {call.lineno})"
        )
        node = GraphNode(
            f"agent:{name}", "agent", name, call.lineno, call.end_lineno or call.lineno,
            variable=variable,
        )  # fmt: skip
        self._set_attributes(node, factory.agent, bound)
        self.call_nodes[id(call)] = self._add(node).id

    def _function_node(self, function: _Function, role: EdgeKind) -> str:
        """A function of this file that an agent lists as a tool or guardrail."""
        known = self.function_nodes.get(function.name)
        if known is not None:
            return known
        kind = FUNCTION_ROLES[role]
        first_line = min([function.lineno] + [d.lineno for d in function.decorator_list])
        node = GraphNode(
            f"{kind}:{function.name}", kind, function.name, first_line,
            function.end_lineno or function.lineno, variable=function.name,
            tool_type="function" if kind == "tool" else role,
        )  # fmt: skip
        node_id = self._add(node).id
        self.function_nodes[function.name] = node_id
        return node_id

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

    def _set_attributes(
        self, node: GraphNode, call: ast.Call, bound: dict[str, ast.expr] | None = None
    ) -> None:
        """From the `Agent(...)` call; in a factory, `bound` holds what its call gave."""
        bound = bound or {}
        model = _argument(_keyword(call, "model"), bound)
        if model is not None:
            node.model = _factory_text(model, bound) or self._constant_text(model)
        instructions = _argument(_keyword(call, "instructions"), bound)
        if instructions is not None:
            text = _factory_text(instructions, bound) or self._instructions_text(instructions)
            node.full_instructions = text
            node.instructions = _first_line(text)
        output_type = _argument(_keyword(call, "output_type"), bound)
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
        if isinstance(expr, ast.Name) and expr.id in self.bound:
            # A factory's parameter: what its call gave, read where the call is.
            outer, self.bound = self.bound, {}
            try:
                return self._resolve(outer[expr.id], depth + 1)
            finally:
                self.bound = outer
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
        if (
            self.role in FUNCTION_ROLES
            and isinstance(expr, ast.Name)
            and name in self.module_functions
        ):
            assert self.role is not None
            return [(self._function_node(self.module_functions[name], self.role), "")]
        if name in self.resolved:
            known = [t for t in self.resolved[name] if t[0] in self.nodes]
            return known or self._unresolved(expr)
        found: list[_Target] = []
        if name not in self.resolving:
            self.resolving.add(name)
            # A variable's values are read where they are (a module's names, not a
            # factory's parameters), and kept for the next time.
            outer, self.bound = self.bound, {}
            try:
                for value in self.bindings.get(name, []):
                    found += self._resolve_quietly(value, depth + 1)
            finally:
                self.resolving.discard(name)
                self.bound = outer
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
        if callee in ("list", "tuple") and isinstance(call.func, ast.Name) and len(call.args) == 1:
            return self._resolve(call.args[0], depth + 1)  # `handoffs=list(specialists)`
        if callee == "as_tool" and isinstance(call.func, ast.Attribute):
            label = _string(_keyword(call, "tool_name", 0)) or ""
            return [(t, label) for t, _ in self._resolve(call.func.value, depth + 1)]
        if callee == "function_tool" and call.args:
            return self._resolving_as("tool", call.args[0], depth + 1)
        if callee in ("InputGuardrail", "OutputGuardrail"):
            function = _keyword(call, "guardrail_function", 0)
            if function is not None:
                role: EdgeKind = "input_guardrail" if callee[0] == "I" else "output_guardrail"
                return self._resolving_as(role, function, depth + 1)
        if callee in HOSTED_TOOLS or callee == "FunctionTool":
            return [(self._tool_call(call, callee), "")]
        return self._unresolved(call)

    def _resolving_as(self, role: EdgeKind | None, expr: ast.expr, depth: int) -> list[_Target]:
        outer, self.role = self.role, role
        try:
            return self._resolve(expr, depth)
        finally:
            self.role = outer

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
        outer, self.role = self.role, kind
        try:
            found = self._followed(value)
        finally:
            self.role = outer
        for target, label in found:
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

    # --- the order agents run in ----------------------------------------------------------
    def _read_runs(self) -> None:
        """Entry agents and the "then", "route" and "runs" edges, from each function (and
        the module, and each class body) that calls `Runner.run*`, read on its own.

        The scopes are found with a stack of their own: the tree may be deeper than
        Python's recursion limit allows a visitor to go."""
        scopes: list[tuple[list[ast.stmt], str | None]] = [(self.tree.body, None)]
        with_runs: set[int] = set()
        stack: list[tuple[ast.AST, str | None, int]] = [
            (child, None, 0) for child in ast.iter_child_nodes(self.tree)
        ]
        while stack:
            node, owner, scope = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not isinstance(node, ast.ClassDef):
                    # Runs inside a tool or guardrail (and functions nested in it) are its.
                    owner = self.function_nodes.get(node.name, owner)
                scope = len(scopes)
                scopes.append((node.body, owner))
            elif _is_run(node):
                with_runs.add(scope)
            stack.extend((child, owner, scope) for child in ast.iter_child_nodes(node))
        for index in sorted(with_runs):
            body, owner = scopes[index]
            start: list[_Flow] = [] if owner is None else [(owner, "runs", ())]
            self._flow_block(body, start, {}, 0)

    def _flow_block(
        self,
        body: list[ast.stmt],
        flows: list[_Flow],
        results: dict[str, list[str]],
        depth: int,
    ) -> list[_Flow] | None:
        """Reads `body`'s runs in order; the flows out of it, or None when every way
        through it returns or raises. `results`: variable -> the agents whose run it
        holds (`result = await Runner.run(a, ...)`, `parsed = result.final_output`)."""
        out: list[_Flow] | None = flows
        for statement in body:
            if out is None:
                break  # after a `return`: never runs
            out = self._flow_statement(statement, out, results, depth)
        return out

    def _flow_statement(
        self,
        statement: ast.stmt,
        flows: list[_Flow],
        results: dict[str, list[str]],
        depth: int,
    ) -> list[_Flow] | None:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return flows  # a scope of its own
        compound = (
            isinstance(
                statement,
                (
                    ast.If,
                    ast.Match,
                    ast.For,
                    ast.AsyncFor,
                    ast.While,
                    ast.Try,
                    ast.With,
                    ast.AsyncWith,
                ),
            )
            or type(statement).__name__ == "TryStar"
        )
        if compound and depth >= FLOW_BLOCKS:
            return self._flow_runs(statement, flows, results)
        next_depth = depth + 1
        if isinstance(statement, ast.If):
            # An `elif` chain is one set of branches, read in a loop: a chain of any length
            # keeps its conditions, and the stack does not grow with it.
            branches: list[tuple[_Condition, list[ast.stmt], list[str]]] = []
            chain: ast.If | None = statement
            orelse: list[ast.stmt] = []
            while chain is not None:
                flows = self._flow_runs(chain.test, flows, results)
                branches.append((chain.test, chain.body, self._readers(chain.test, results)))
                orelse = chain.orelse
                is_elif = len(orelse) == 1 and isinstance(orelse[0], ast.If)
                chain = orelse[0] if is_elif and isinstance(orelse[0], ast.If) else None
            if orelse:
                readers = [r for _, _, rs in branches for r in rs]
                branches.append(("else", orelse, list(dict.fromkeys(readers))))
            return self._branches(flows, branches, bool(orelse), results, next_depth)
        if isinstance(statement, ast.Match):
            flows = self._flow_runs(statement.subject, flows, results)
            cases = statement.cases
            exhaustive = bool(cases) and (
                isinstance(cases[-1].pattern, ast.MatchAs)
                and cases[-1].pattern.pattern is None
                and cases[-1].guard is None
            )
            readers = self._readers(statement.subject, results)
            return self._branches(
                flows,
                [(case, case.body, readers) for case in cases],
                exhaustive,
                results,
                next_depth,
            )
        if isinstance(statement, (ast.For, ast.AsyncFor, ast.While)):
            head = statement.test if isinstance(statement, ast.While) else statement.iter
            flows = self._flow_runs(head, flows, results)
            # Once through the body (or not at all); the way back round is not drawn.
            looped = self._flow_block(statement.body, flows, results, next_depth)
            after = _merged([looped, flows])
            assert after is not None
            return self._flow_block(statement.orelse, after, results, next_depth)
        if isinstance(statement, (ast.With, ast.AsyncWith)):
            for item in statement.items:
                flows = self._flow_runs(item.context_expr, flows, results)
            return self._flow_block(statement.body, flows, results, next_depth)
        if isinstance(statement, ast.Try) or type(statement).__name__ == "TryStar":
            body: list[ast.stmt] = getattr(statement, "body", [])
            handlers: list[ast.ExceptHandler] = getattr(statement, "handlers", [])
            done = self._flow_block(body, flows, results, next_depth)
            if done is not None:
                done = self._flow_block(getattr(statement, "orelse", []), done, results, next_depth)
            ways = [done]
            for handler in handlers:
                caught = "except" + (
                    f" {_source(handler.type, CONDITION_CHARS)}" if handler.type else ""
                )
                entered = self._entered(flows, caught, [])
                ways.append(
                    self._left(
                        self._flow_block(handler.body, entered, results, next_depth), entered, flows
                    )
                )
            merged = _merged(ways)
            final: list[ast.stmt] = getattr(statement, "finalbody", [])
            if not final:
                return merged
            after_final = self._flow_block(
                final, flows if merged is None else merged, results, next_depth
            )
            return None if merged is None else after_final
        after = self._flow_runs(statement, flows, results)
        if isinstance(statement, (ast.Return, ast.Raise)):
            return None
        return after

    def _branches(
        self,
        flows: list[_Flow],
        branches: list[tuple[_Condition, list[ast.stmt], list[str]]],
        exhaustive: bool,
        results: dict[str, list[str]],
        depth: int,
    ) -> list[_Flow] | None:
        """Each branch from `flows` under its condition (routed from the agents whose
        results it reads); the flows out of them all (and past them, when no branch may
        be taken)."""
        ways: list[list[_Flow] | None] = []
        for condition, body, readers in branches:
            entered = self._entered(flows, condition, readers)
            ways.append(self._left(self._flow_block(body, entered, results, depth), entered, flows))
        if not exhaustive:
            ways.append(flows)
        return _merged(ways)

    @staticmethod
    def _entered(flows: list[_Flow], condition: _Condition, readers: list[str]) -> list[_Flow]:
        """The flows into a branch: a route from the agents whose results its condition
        reads, else from the agents run before. Before any agent ran, an agent run in a
        branch is still an entry (or run by its tool)."""
        if readers:
            return [(reader, "route", (condition,)) for reader in readers]
        entered: list[_Flow] = []
        for source, kind, conditions in flows:
            if kind == "runs":
                entered.append((source, kind, conditions))
            elif kind == "route":
                entered.append((source, kind, (*conditions, condition)))
            else:
                entered.append((source, "route", (condition,)))
        return entered

    @staticmethod
    def _left(
        out: list[_Flow] | None, entered: list[_Flow], flows: list[_Flow]
    ) -> list[_Flow] | None:
        """The flows out of a branch: where no agent ran on a way through it, the flows
        from before it (its condition says nothing about what runs after)."""
        if out is None or entered is flows:
            return out
        pending = set(entered) - set(flows)
        if not any(flow in pending for flow in out):
            return out
        return list(dict.fromkeys([f for f in out if f not in pending] + flows))

    def _readers(self, expr: ast.expr, results: dict[str, list[str]]) -> list[str]:
        """The agents whose results `expr` reads."""
        if not results:
            return []
        found: list[str] = []
        for node in ast.walk(expr):
            if isinstance(node, ast.Name) and node.id in results:
                found += results[node.id]
        return list(dict.fromkeys(found))

    def _flow_runs(
        self, node: ast.AST, flows: list[_Flow], results: dict[str, list[str]]
    ) -> list[_Flow]:
        """The runs in one statement or expression (side by side: `gather(run(a), run(b))`
        runs both after what ran before); the flows after it."""
        calls: list[ast.Call] = []
        stack: list[ast.AST] = [node]
        while stack:
            current = stack.pop()
            if current is not node and isinstance(
                current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            ):
                continue
            if _is_run(current):
                assert isinstance(current, ast.Call)
                calls.append(current)
            stack.extend(ast.iter_child_nodes(current))
        ran: list[str] = []
        for call in sorted(calls, key=_position):
            agent = _keyword(call, "starting_agent", 0)
            if agent is None:
                continue
            for target, _ in self._followed(agent):
                ran.append(target)
                if not flows:
                    self.entry.append((_position(call), target))
                for source, kind, conditions in flows:
                    if source == target or self.flow_edges >= MAX_FLOW_EDGES:
                        continue
                    self.flow_edges += 1
                    label = ""
                    if conditions:
                        label = self.labels.get(conditions) or _route_label(conditions)
                        self.labels[conditions] = label
                    self.edges.append(GraphEdge(source, target, kind, label))
        ran = list(dict.fromkeys(ran))
        names = _assigned_names(node)
        if names:
            value = getattr(node, "value", None)  # an assignment's (names were assigned)
            held = ran or (self._readers(value, results) if value is not None else [])
            for name in names:
                if held:
                    results[name] = held
                else:
                    results.pop(name, None)
        return [(agent, "then", ()) for agent in ran] if ran else flows


def _assigned_names(node: ast.AST) -> list[str]:
    """The plain names a statement assigns (`a = `, `a, b = `, `a: T = `)."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    else:
        return []
    names: list[str] = []
    for target in targets:
        elements = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        names += [e.id for e in elements if isinstance(e, ast.Name)]
    return names


def _merged(ways: "list[list[_Flow] | None]") -> list[_Flow] | None:
    """The flows out of several ways through a block; None when none comes out."""
    open_ways = [way for way in ways if way is not None]
    if not open_ways:
        return None
    return list(dict.fromkeys(flow for way in open_ways for flow in way))[:MAX_FLOWS]


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
