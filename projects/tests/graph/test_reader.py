"""The workflow graph read from code: fixtures in the styles people write, and diffs."""

import json
import time
from pathlib import Path

import pytest

from projects.graph.reader import MAX_FLOW_EDGES, build_graph, diff_graphs
from projects.sample_workflow import SAMPLE_CODE, STARTER_CODE

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_FILES = sorted(FIXTURES.glob("*.py"))


def _edge(edge) -> str:
    label = f"[{edge.label}]" if edge.label else ""
    return f"{edge.source} -{edge.kind}{label}-> {edge.target}"


def test_there_are_at_least_twelve_fixtures() -> None:
    assert len(FIXTURE_FILES) >= 12


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture_graph_is_exactly_the_expected_one(path: Path) -> None:
    expected = json.loads(path.with_suffix(".json").read_text())
    graph = build_graph(path.read_text())

    nodes = {
        n.id: {
            "kind": n.kind,
            "line": n.line,
            **({"model": n.model} if n.model else {}),
            **({"output_type": n.output_type} if n.output_type else {}),
        }
        for n in graph.nodes
    }
    assert nodes == expected["nodes"]
    assert sorted(_edge(e) for e in graph.edges) == sorted(expected["edges"])
    assert graph.entry == expected["entry"]
    assert [[u.name, u.line] for u in graph.unresolved] == expected["unresolved"]


def test_fixture_agent_lines_point_at_their_definitions() -> None:
    for path in FIXTURE_FILES:
        lines = path.read_text().splitlines()
        for node in build_graph(path.read_text()).agents():
            text = "\n".join(lines[node.line - 1 : node.end_line])
            assert "Agent" in text or ".clone(" in text, (path.name, node.id)


def test_sample_workflow_graph() -> None:
    graph = build_graph(SAMPLE_CODE)
    assert [n.label for n in graph.agents()] == [
        "Billing Agent",
        "Technical Support Agent",
        "Triage Agent",
    ]
    assert graph.entry == ["agent:Triage Agent"]
    assert graph.targets("agent:Triage Agent", "handoff") == [
        "agent:Billing Agent",
        "agent:Technical Support Agent",
    ]
    assert graph.targets("agent:Billing Agent", "tool") == ["tool:lookup_invoice"]
    triage = graph.node("agent:Triage Agent")
    assert triage.variable == "triage_agent"
    assert triage.instructions is not None
    assert triage.instructions.startswith("Decide whether the customer needs billing")


def test_attributes_of_an_agent() -> None:
    graph = build_graph(
        "from agents import Agent\n"
        'MODEL = "gpt-5-mini"\n'
        "class Plan: ...\n"
        "def say(ctx, agent): return 'hi'\n"
        'a = Agent(name="A", instructions="""\n  First line.\n  Second.""", model=MODEL,\n'
        "          output_type=list[Plan])\n"
        'b = Agent(name="B", instructions=say)\n'
        'c = a.clone(name="C", model="gpt-5")\n'
    )
    a, b, c = (graph.node(f"agent:{x}") for x in "ABC")
    assert (a.instructions, a.model, a.output_type) == ("First line.", "gpt-5-mini", "list[Plan]")
    assert (a.line, a.end_line) == (5, 8)
    assert b.instructions == "(dynamic: say)"
    assert (c.instructions, c.model, c.output_type, c.clone_of) == (
        "First line.",
        "gpt-5",
        "list[Plan]",
        "agent:A",
    )


def test_names_it_cannot_resolve_are_kept_with_their_line() -> None:
    graph = build_graph(
        "from agents import Agent, Runner\nfrom elsewhere import helper, billing\n"
        "a = Agent(name='A', tools=[helper], handoffs=[billing, make_agent()])\n"
        "Runner.run_sync(pick_agent(), 'hi')\n"
    )
    assert [(u.name, u.line) for u in graph.unresolved] == [
        ("billing", 3),
        ("make_agent()", 3),
        ("helper", 3),
        ("pick_agent()", 4),
    ]
    assert {e.target for e in graph.edges} == {
        "unresolved:helper",
        "unresolved:billing",
        "unresolved:make_agent()",
    }
    assert graph.entry == ["unresolved:pick_agent()"]


def test_self_referencing_variables_end() -> None:
    graph = build_graph(
        "from agents import Agent\nb = Agent(name='B')\nxs = [b]\nxs = xs + xs\n"
        "a = Agent(name='A', handoffs=xs)\n"
    )
    assert graph.targets("agent:A", "handoff") == ["agent:B"]


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(ValueError, match="line 2"):
        build_graph("x = 1\ny = (\n")


# --- diffs -------------------------------------------------------------------------------
def _change(before: str, after: str):
    return diff_graphs(build_graph(before), build_graph(after))


def test_diff_agent_added() -> None:
    after = SAMPLE_CODE.replace(
        "triage_agent = Agent(",
        'refund_agent = Agent(name="Refund Agent", instructions="Refunds.")\n\n'
        "triage_agent = Agent(",
    ).replace("handoffs=[billing_agent, technical_agent]", "handoffs=[billing_agent, "
              "technical_agent, refund_agent]")  # fmt: skip
    change = _change(SAMPLE_CODE, after)
    assert change.nodes_added == ["agent:Refund Agent"]
    assert change.nodes_removed == []
    assert change.nodes_changed == {"agent:Triage Agent": ["handoffs"]}
    assert [(e.source, e.target, e.kind) for e in change.edges_added] == [
        ("agent:Triage Agent", "agent:Refund Agent", "handoff")
    ]


def test_diff_handoff_removed() -> None:
    after = SAMPLE_CODE.replace(
        "handoffs=[billing_agent, technical_agent]", "handoffs=[billing_agent]"
    )
    change = _change(SAMPLE_CODE, after)
    assert (change.nodes_added, change.nodes_removed) == ([], [])
    assert change.nodes_changed == {"agent:Triage Agent": ["handoffs"]}
    assert [(e.source, e.target) for e in change.edges_removed] == [
        ("agent:Triage Agent", "agent:Technical Support Agent")
    ]
    assert change.edges_added == []


def test_diff_tool_renamed() -> None:
    after = SAMPLE_CODE.replace("lookup_invoice", "find_invoice")
    change = _change(SAMPLE_CODE, after)
    assert change.nodes_added == ["tool:find_invoice"]
    assert change.nodes_removed == ["tool:lookup_invoice"]
    # Its instructions name the tool too.
    assert change.nodes_changed == {"agent:Billing Agent": ["instructions", "tools"]}
    assert [e.target for e in change.edges_added] == ["tool:find_invoice"]
    assert [e.target for e in change.edges_removed] == ["tool:lookup_invoice"]


def test_diff_instructions_changed_beyond_the_first_line() -> None:
    after = SAMPLE_CODE.replace("and hand off to that specialist.", "and hand off politely.")
    change = _change(SAMPLE_CODE, after)
    assert change.nodes_changed == {"agent:Triage Agent": ["instructions"]}
    assert not (change.nodes_added or change.edges_added or change.edges_removed)


def test_diff_model_changed() -> None:
    after = SAMPLE_CODE.replace('name="Billing Agent",', 'name="Billing Agent", model="gpt-5",')
    change = _change(SAMPLE_CODE, after)
    assert change.nodes_changed == {"agent:Billing Agent": ["model"]}


def test_diff_of_identical_code_is_empty() -> None:
    assert _change(SAMPLE_CODE, SAMPLE_CODE + "\n# a comment\n").is_empty()


def test_starter_code_has_no_path_workaround() -> None:
    assert "sys.path" not in STARTER_CODE and "sys.path" not in SAMPLE_CODE
    assert [n.label for n in build_graph(STARTER_CODE).agents()] == ["Assistant"]


def test_variables_that_double_at_every_step_stay_fast() -> None:
    lines = ["from agents import Agent", "x0 = [Agent(name='A')]"]
    lines += [f"x{i} = [*x{i - 1}, *x{i - 1}]" for i in range(1, 30)]
    lines += ["b = Agent(name='B', handoffs=x29)"]
    graph = build_graph("\n".join(lines) + "\n")
    assert graph.targets("agent:B", "handoff") == ["agent:A"]


def test_a_list_variable_keeps_its_unresolved_members() -> None:
    graph = build_graph(
        "from agents import Agent\nfrom plugins import extra\n"
        "a = Agent(name='A')\nteam = [a, extra]\nboss = Agent(name='Boss', handoffs=team)\n"
    )
    assert graph.targets("agent:Boss", "handoff") == ["agent:A", "unresolved:extra"]
    assert [(u.name, u.line) for u in graph.unresolved] == [("extra", 4)]


def test_agents_kept_on_self_in_a_class() -> None:
    graph = build_graph(
        "from agents import Agent, Runner\n"
        "class Workflow:\n"
        "    def __init__(self):\n"
        "        self.expert = Agent(name='Expert')\n"
        "        self.desk = Agent(name='Desk', handoffs=[self.expert])\n"
        "    async def run(self, text):\n"
        "        return await Runner.run(self.desk, text)\n"
    )
    assert graph.node("agent:Expert").variable == "expert"
    assert graph.targets("agent:Desk", "handoff") == ["agent:Expert"]
    assert graph.entry == ["agent:Desk"]


def test_a_deep_expression_is_unresolved_with_a_short_label() -> None:
    code = (
        "from agents import Agent, Runner\n"
        "a = Agent(name='A', tools=["
        + "lambda: " * 900
        + "x], output_type="
        + "f(" * 150
        + "T"
        + ")" * 150
        + ")\n"
        "Runner.run(" + "not " * 900 + "a)\n"
    )
    graph = build_graph(code)

    assert [n.id for n in graph.agents()] == ["agent:A"]
    assert graph.node("agent:A").output_type == "f(" * 11 + "...(...)" + ")" * 11
    names = [u.name for u in graph.unresolved]
    assert names[0].startswith("lambda: lambda: ") and len(names[0]) <= 60
    assert names[1].startswith("not not ")
    assert graph.entry == [f"unresolved:{names[1]}"]


# --- the order agents run in ---------------------------------------------------------------
def _flow(graph) -> list[str]:
    return [_edge(e) for e in graph.edges if e.kind in ("then", "route", "runs")]


ROUTED = """\
from agents import Agent, Runner
triage = Agent(name="Triage", output_type=Category)
billing = Agent(name="Billing")
tech = Agent(name="Tech")
other = Agent(name="Other")
summary = Agent(name="Summary")

def handle(text):
    first = Runner.run_sync(triage, text)
    kind = first.final_output.kind
    if kind == "billing":
        answer = Runner.run_sync(billing, text)
    elif kind in ("bug", "crash"):
        answer = Runner.run_sync(tech, text)
    else:
        answer = Runner.run_sync(other, text)
    return Runner.run_sync(summary, answer.final_output)
"""


def test_a_branch_on_an_agent_result_is_a_route_from_that_agent() -> None:
    graph = build_graph(ROUTED)
    assert _flow(graph) == [
        "agent:Triage -route[if kind == 'billing']-> agent:Billing",
        "agent:Triage -route[if kind in ('bug', 'crash')]-> agent:Tech",
        "agent:Triage -route[else]-> agent:Other",
        "agent:Billing -then-> agent:Summary",
        "agent:Tech -then-> agent:Summary",
        "agent:Other -then-> agent:Summary",
    ]
    # Only the agent run first starts the workflow.
    assert graph.entry == ["agent:Triage"]


def test_runs_one_after_another_are_then_edges_and_a_branch_without_a_run_is_not_a_route() -> None:
    graph = build_graph(
        "import asyncio\nfrom agents import Agent, Runner\n"
        "a, b, c, d = (Agent(name=n) for n in 'abcd')\n"
        "A = Agent(name='A')\nB = Agent(name='B')\nC = Agent(name='C')\nD = Agent(name='D')\n"
        "async def main(verbose):\n"
        "    r = await Runner.run(A, 'x')\n"
        "    if verbose:\n"
        "        print(r)\n"
        "    both = await asyncio.gather(Runner.run(B, 'x'), Runner.run(C, 'x'))\n"
        "    for item in both:\n"
        "        Runner.run_streamed(D, item)\n"
    )
    assert _flow(graph) == [
        "agent:A -then-> agent:B",
        "agent:A -then-> agent:C",
        "agent:B -then-> agent:D",
        "agent:C -then-> agent:D",
    ]
    assert graph.entry == ["agent:A"]


def test_a_branch_that_returns_does_not_lead_on_and_nested_conditions_join() -> None:
    graph = build_graph(
        "from agents import Agent, Runner\n"
        "A = Agent(name='A')\nB = Agent(name='B')\nC = Agent(name='C')\n"
        "async def main(x, y):\n"
        "    await Runner.run(A, 'x')\n"
        "    if x:\n"
        "        if y:\n"
        "            await Runner.run(B, 'x')\n"
        "        return\n"
        "    await Runner.run(C, 'x')\n"
    )
    assert _flow(graph) == [
        "agent:A -route[if x; if y]-> agent:B",
        "agent:A -then-> agent:C",
    ]


def test_match_cases_and_except_are_routes() -> None:
    graph = build_graph(
        "from agents import Agent, Runner\n"
        "A = Agent(name='A')\nB = Agent(name='B')\nC = Agent(name='C')\nD = Agent(name='D')\n"
        "async def main():\n"
        "    picked = await Runner.run(A, 'x')\n"
        "    match picked.final_output:\n"
        "        case 'b':\n"
        "            await Runner.run(B, 'x')\n"
        "        case _:\n"
        "            try:\n"
        "                await Runner.run(C, 'x')\n"
        "            except TimeoutError:\n"
        "                await Runner.run(D, 'x')\n"
    )
    assert _flow(graph) == [
        "agent:A -route[case 'b']-> agent:B",
        "agent:A -route[case _]-> agent:C",
        "agent:A -route[case _; except TimeoutError]-> agent:D",
    ]
    assert graph.entry == ["agent:A"]


def test_each_function_is_read_on_its_own_and_runs_in_a_tool_stay_runs() -> None:
    graph = build_graph(
        "from agents import Agent, Runner, function_tool\n"
        "A = Agent(name='A')\nB = Agent(name='B')\nC = Agent(name='C')\n"
        "@function_tool\nasync def ask(q: str) -> str:\n"
        "    first = await Runner.run(A, q)\n"
        "    return (await Runner.run(B, first.final_output)).final_output\n"
        "def first(q):\n    return Runner.run_sync(C, q)\n"
        "def second(q):\n    return Runner.run_sync(B, q)\n"
    )
    assert _flow(graph) == [
        "tool:ask -runs-> agent:A",
        "agent:A -then-> agent:B",
    ]
    assert graph.entry == ["agent:C", "agent:B"]


def test_long_conditions_keep_what_they_compare_with() -> None:
    graph = build_graph(
        "from agents import Agent, Runner\nA = Agent(name='A')\nB = Agent(name='B')\n"
        "def go():\n"
        "    a_result = Runner.run_sync(A, 'x')\n"
        "    parsed = {'output_parsed': a_result.final_output.model_dump()}\n"
        "    if parsed['output_parsed']['classification_of_the_request'] == 'billing':\n"
        "        Runner.run_sync(B, 'x')\n"
    )
    [route] = [e for e in graph.edges if e.kind == "route"]
    assert route.source == "agent:A"
    assert route.label.endswith("_request'] == 'billing'")
    assert route.label.startswith("if …") and len(route.label) <= 45


def test_a_long_elif_chain_keeps_every_condition() -> None:
    lines = ["from agents import Agent, Runner"]
    lines += [f"a{i} = Agent(name='A{i}')" for i in range(40)]
    lines += ["def go():", "    r = Runner.run_sync(a0, 'x')", "    if r == 1:", "        pass"]
    for i in range(1, 40):
        lines += [f"    elif r == {i}:", f"        Runner.run_sync(a{i}, 'x')"]
    graph = build_graph("\n".join(lines) + "\n")
    routes = [_edge(e) for e in graph.edges if e.kind == "route"]
    assert len(routes) == 39
    assert routes[-1] == "agent:A0 -route[if r == 39]-> agent:A39"
    assert graph.entry == ["agent:A0"]


def test_a_file_branching_everywhere_is_read_quickly_with_bounded_edges() -> None:
    # Thousands of `if`s each running one of hundreds of agents: every earlier agent may
    # lead to each run, hundreds of thousands of edges unbounded.
    lines = ["from agents import Agent, Runner"]
    lines += [f"a{i} = Agent(name='A{i}')" for i in range(200)]
    lines += ["def go(c):"]
    for j in range(3000):
        lines += [f"    if c == {j}:", f"        Runner.run_sync(a{j % 200}, 'x')"]
    started = time.monotonic()
    graph = build_graph("\n".join(lines) + "\n")
    assert time.monotonic() - started < 5
    assert len(graph.edges) == MAX_FLOW_EDGES
    assert len(graph.agents()) == 200


# --- functions of the file as tools and guardrails ---------------------------------------
def test_functions_of_the_file_are_tools_and_guardrails_decorated_or_not() -> None:
    graph = build_graph(
        "from agents import Agent, InputGuardrail, OutputGuardrail, function_tool\n"
        "from agents import input_guardrail\n"
        "@input_guardrail\nasync def no_jailbreak(ctx, agent, data): ...\n"
        "async def no_pii(ctx, agent, data): ...\n"
        "def polite(ctx, agent, output): ...\n"
        "def lookup(invoice: str) -> str: ...\n"
        "def search(query: str) -> str: ...\n"
        "a = Agent(name='A',\n"
        "    input_guardrails=[no_jailbreak, InputGuardrail(guardrail_function=no_pii)],\n"
        "    output_guardrails=[OutputGuardrail(polite)],\n"
        "    tools=[function_tool(lookup), search])\n"
        "b = Agent(name='B', input_guardrails=[InputGuardrail(guardrail_function=no_jailbreak)])\n"
    )
    assert graph.unresolved == []
    assert graph.targets("agent:A", "input_guardrail") == [
        "guardrail:no_jailbreak",
        "guardrail:no_pii",
    ]
    assert graph.targets("agent:A", "output_guardrail") == ["guardrail:polite"]
    assert graph.targets("agent:A", "tool") == ["tool:lookup", "tool:search"]
    assert graph.targets("agent:B", "input_guardrail") == ["guardrail:no_jailbreak"]
    no_pii = graph.node("guardrail:no_pii")
    assert (no_pii.line, no_pii.tool_type) == (5, "input_guardrail")
    assert graph.node("guardrail:polite").tool_type == "output_guardrail"
    assert graph.node("tool:lookup").tool_type == "function"


def test_a_function_is_not_taken_for_an_agent_nor_from_inside_another_function() -> None:
    graph = build_graph(
        "from agents import Agent\n"
        "def helper(): ...\n"
        "def outer():\n    def inner(): ...\n"
        "a = Agent(name='A', handoffs=[helper], tools=[inner])\n"
    )
    assert [(u.name, u.line) for u in graph.unresolved] == [("helper", 5), ("inner", 5)]


# --- agents built by a factory ----------------------------------------------------------
FACTORY = """\
from agents import Agent, WebSearchTool

def make_agent(name, instructions, model="gpt-5-mini", *, handoffs=()):
    return Agent(
        name=name,
        instructions=instructions,
        model=model,
        tools=[WebSearchTool()],
        handoffs=list(handoffs),
    )

def specialist(topic: str) -> Agent:
    agent = Agent(name=f"{topic} specialist", instructions=f"Answer {topic} questions.")
    return agent

billing = make_agent("Billing", "Handle invoices.\\nBe brief.")
tech = make_agent(
    name="Tech",
    instructions="Fix things.",
    model="gpt-5",
)
legal = specialist("Legal")
triage = make_agent("Triage", "Route.", handoffs=[billing, tech, legal])
"""


def test_agents_built_by_a_factory_are_named_from_its_calls() -> None:
    graph = build_graph(FACTORY)
    agents = {n.id: n for n in graph.agents()}
    assert list(agents) == [
        "agent:Billing",
        "agent:Tech",
        "agent:Legal specialist",
        "agent:Triage",
    ]
    billing, tech = agents["agent:Billing"], agents["agent:Tech"]
    assert (billing.line, billing.end_line, billing.variable) == (16, 16, "billing")
    assert (billing.model, billing.instructions) == ("gpt-5-mini", "Handle invoices.")
    assert billing.full_instructions == "Handle invoices.\nBe brief."
    assert (tech.line, tech.end_line, tech.model) == (17, 21, "gpt-5")
    assert agents["agent:Legal specialist"].instructions == "Answer Legal questions."
    assert graph.targets("agent:Triage", "handoff") == [
        "agent:Billing",
        "agent:Tech",
        "agent:Legal specialist",
    ]
    assert graph.unresolved == []


def test_a_factory_never_called_is_still_its_agent() -> None:
    graph = build_graph("from agents import Agent\ndef make(name):\n    return Agent(name=name)\n")
    assert [(n.label, n.line) for n in graph.agents()] == [("Agent (line 3)", 3)]
