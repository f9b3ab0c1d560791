"""Which part of a workflow a trial runs: what the graph found as its entry, or what the
person picked.

Without a pick: a top-level function that runs agents (`Runner.run*`) and takes an
input, such as an Agent Builder export's `run_workflow(workflow_input)`, is run with
the trial's input; otherwise the graph's first entry agent (the agent the file runs
first). A pick names an agent (its name or its variable) or such a function.
"""

import ast
from dataclasses import dataclass
from typing import Literal

from projects.graph.reader import build_graph

RUNNER_METHODS = {"run", "run_sync", "run_streamed"}


class NoEntry(Exception):
    """Nothing to run was found, or the pick names nothing runnable; says what there is."""


@dataclass(frozen=True)
class Entry:
    kind: Literal["agent", "function"]
    # The variable (agent) or function name the sandbox looks up.
    name: str
    # What a person sees: the agent's name, or `run_workflow()`.
    label: str


def _runs_agents(function: ast.AsyncFunctionDef | ast.FunctionDef) -> bool:
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RUNNER_METHODS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "Runner"
        ):
            return True
    return False


def workflow_functions(code: str) -> list[str]:
    """Top-level functions that run agents and take an input, in file order."""
    try:
        module = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return [
        node.name
        for node in module.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and _takes_one_input(node)
        and not node.decorator_list  # a guardrail or a tool, not a workflow
        and _runs_agents(node)
    ]


def _takes_one_input(function: ast.AsyncFunctionDef | ast.FunctionDef) -> bool:
    """One argument without a default: a guardrail (context, agent, input) is not one."""
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args]
    return len(positional) - len(arguments.defaults) == 1


def choose(code: str, main_file: str, pick: str | None) -> Entry | None:
    """The entry to run; None when the file does not parse (its import error will say
    why). Raises NoEntry naming what could be picked."""
    try:
        graph = build_graph(code)
    except ValueError:
        if pick:
            return Entry("agent", pick, pick)
        return None
    agents = {node.variable or node.label: node.label for node in graph.agents()}
    functions = workflow_functions(code)
    choices = sorted(set(agents.values())) + [f"{name}()" for name in functions]
    if pick:
        name = pick.removesuffix("()")
        if name in functions:
            return Entry("function", name, f"{name}()")
        for variable, label in agents.items():
            if pick in (variable, label):
                return Entry("agent", variable, label)
        raise NoEntry(
            f"{main_file} has no agent or workflow function {pick!r}: pick one of {choices}."
        )
    if functions:
        name = "run_workflow" if "run_workflow" in functions else functions[0]
        return Entry("function", name, f"{name}()")
    for node_id in graph.entry:
        node = graph.node(node_id)
        if node.kind == "agent" and node.variable:
            return Entry("agent", node.variable, node.label)
    for variable, label in agents.items():
        if variable:
            return Entry("agent", variable, label)
    raise NoEntry(
        f"No agent to run was found in {main_file}: define an Agent at the file's top "
        "level, or pick one with `entry`."
    )
