"""The graph reader on generated Python: it never raises on code that parses.

Two sources: Agents-SDK-shaped files (`workflow_files`: agents, tools, guardrails,
clones, odd constructs, nesting hundreds of levels deep), and hypothesmith's programs
from Python's grammar appended to a small workflow. Each file is read as a request
would read it, and again with a server's worth of stack already used; the graph must
hold together (every edge between its nodes, every unresolved name a node), must find
the agents the file defines, and must never be the reader's "failed" graph.
"""

import ast
from collections.abc import Callable

import hypothesmith
import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from projects.code import InvalidCode, validate_code
from projects.graph.reader import READER_FAILED, WorkflowGraph, build_graph, diff_graphs
from projects.graph.render import diff_drawing, drawing_of, to_mermaid
from projects.nodes import find_agents
from projects.tests.graph.workflow_files import HEADER, Workflow, workflow_files

# Sized so each test takes a few seconds on an idle machine. The SDK-shaped test reads
# every prefix and every block of each drawn file too: about two thousand reads of over
# a thousand distinct files a run.
SDK_EXAMPLES = 150
GRAMMAR_EXAMPLES = 50
# Frames a request already holds when a view reads the graph (daphne, Django, DRF and
# the view: about 150), with room to spare.
SERVER_STACK = 300

fuzz = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _with_stack_used(frames: int, read: Callable[[], WorkflowGraph]) -> WorkflowGraph:
    return read() if frames <= 0 else _with_stack_used(frames - 1, read)


def check_graph(graph: WorkflowGraph) -> None:
    """What every page and API answer relies on in a graph."""
    ids = [n.id for n in graph.nodes]
    assert len(ids) == len(set(ids)), "node ids are unique"
    known = set(ids)
    for edge in graph.edges:
        assert edge.source in known and edge.target in known, edge
    assert set(graph.entry) <= known
    for unresolved in graph.unresolved:
        assert f"unresolved:{unresolved.name}" in known, unresolved
        assert unresolved.line >= 1
    for node in graph.nodes:
        assert 1 <= node.line <= node.end_line, node
    assert READER_FAILED not in {u.name for u in graph.unresolved}, "the reader failed"
    drawing = drawing_of(graph)
    assert to_mermaid(drawing).startswith("flowchart TB")
    change = diff_graphs(graph, graph)
    assert change.is_empty()
    graph.as_dict()


def read_everywhere(code: str) -> WorkflowGraph:
    """The graph as a shallow caller and as a deep one reads it, and the agents list."""
    graph = build_graph(code)
    check_graph(graph)
    deep = _with_stack_used(SERVER_STACK, lambda: build_graph(code))
    check_graph(deep)
    assert [n.id for n in deep.nodes] == [n.id for n in graph.nodes]
    assert [a.name for a in find_agents(code)] == [n.label for n in graph.agents()]
    return graph


@settings(fuzz, max_examples=SDK_EXAMPLES)
@given(workflow_files())
@example(Workflow([("x = " + "lambda: " * 950 + "1\n", frozenset())]))
@example(Workflow([("a = Agent(name='A', tools=[" + "-" * 900 + "b])\n", frozenset({"A"}))]))
def test_the_reader_never_raises_on_sdk_shaped_files(workflow: Workflow) -> None:
    code = workflow.code()
    note(code if len(code) < 5_000 else f"{len(code)} characters")
    ast.parse(code)  # the strategy draws only files that parse
    read_everywhere(code)
    # Each prefix of the file, and each of its blocks alone, is a file too: read them
    # all, each must find its agents.
    for count in range(len(workflow.blocks) + 1):
        graph = build_graph(workflow.code(count))
        check_graph(graph)
        labels = {n.label for n in graph.agents()}
        assert workflow.agents(count) <= labels, workflow.agents(count) - labels
    for text, agents in workflow.blocks[1:]:
        graph = build_graph(HEADER + text)
        check_graph(graph)
        assert agents <= {n.label for n in graph.agents()}
    # What validation says is an answer, never a crash: accepted or a named InvalidCode.
    try:
        validate_code(code)
    except InvalidCode as exc:
        assert str(exc).startswith("The code ")


@settings(fuzz, max_examples=SDK_EXAMPLES // 4)
@given(workflow_files(), workflow_files())
def test_the_diff_of_two_files_holds_together(base: Workflow, patched: Workflow) -> None:
    before, after = build_graph(base.code()), build_graph(patched.code())
    change = diff_graphs(before, after)
    drawing = diff_drawing(before, after, change)
    known = {n.node.id for n in drawing.nodes}
    assert all(e.edge.source in known and e.edge.target in known for e in drawing.edges)
    assert to_mermaid(drawing).startswith("flowchart TB")


# Deferred: building the grammar takes seconds, paid only when this test runs.
GRAMMAR = st.deferred(hypothesmith.from_grammar)
SMALL_WORKFLOW = (
    "from agents import Agent, Runner, function_tool\n"
    "helper = Agent(name='Helper')\n"
    "lead = Agent(name='Lead', handoffs=[helper], tools=[helper.as_tool()])\n"
)


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(fuzz, max_examples=GRAMMAR_EXAMPLES)
@given(program=GRAMMAR, before=st.booleans())
def test_the_reader_never_raises_on_programs_from_the_grammar(program: str, before: bool) -> None:
    code = program + "\n" + SMALL_WORKFLOW if before else SMALL_WORKFLOW + program
    try:
        ast.parse(code)
    except SyntaxError:  # hypothesmith's program may end in a line continuation
        code = SMALL_WORKFLOW
    graph = read_everywhere(code)
    assert {"Helper", "Lead"} <= {n.label for n in graph.agents()}
