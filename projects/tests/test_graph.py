"""The workflow graph read from code: fixtures in the styles people write, and diffs."""

import json
import re
from pathlib import Path

import pytest

from projects.graph import build_graph, diff_graphs
from projects.graph_render import diff_drawing, drawing_of, to_mermaid, to_svg
from projects.sample_workflow import SAMPLE_CODE, STARTER_CODE

FIXTURES = Path(__file__).parent / "graph_fixtures"
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


# --- drawings ----------------------------------------------------------------------------
# The subset of Mermaid's flowchart grammar that to_mermaid writes (Mermaid's own parser
# is a JavaScript package; this grammar is checked line by line, every line must match).
_ID = r"n\d+"
_LABEL = r'"(?:[^"\n]|#quot;)*"'
_SHAPE = rf"(?:\[{_LABEL}\]|\(\[{_LABEL}\]\)|\{{\{{{_LABEL}\}}\}}|>{_LABEL}\])"
_MERMAID_LINE = re.compile(
    rf"^(?:flowchart (?:TB|TD|LR|RL|BT)"
    rf"|    {_ID}{_SHAPE}"
    rf"|    {_ID} (?:-->|==>|-\.->|-\.-o)\|{_LABEL}\| {_ID}"
    rf"|    classDef [a-z]+ [a-z-]+:[^\s,]+(?:,[a-z-]+:[^\s,]+)*"
    rf"|    class {_ID}(?:,{_ID})* [a-z]+)$"
)


def _check_mermaid(text: str) -> None:
    lines = text.rstrip("\n").split("\n")
    assert lines[0].startswith("flowchart ")
    for line in lines:
        assert _MERMAID_LINE.match(line), f"not flowchart syntax: {line!r}"
    declared = set(re.findall(rf"^    ({_ID})[\[\(\{{>]", text, re.MULTILINE))
    used = set(re.findall(rf"\| ({_ID})$|^    ({_ID}) ", text, re.MULTILINE))
    assert {n for pair in used for n in pair if n} <= declared


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_mermaid_of_every_fixture_is_flowchart_syntax(path: Path) -> None:
    _check_mermaid(to_mermaid(drawing_of(build_graph(path.read_text()))))


def test_mermaid_escapes_hostile_names_and_marks_the_diff() -> None:
    before = "from agents import Agent\na = Agent(name='A')\n"
    after = "from agents import Agent\na = Agent(name='A \"quoted\" | <b>#1</b>')\n"
    base, patched = build_graph(before), build_graph(after)
    text = to_mermaid(diff_drawing(base, patched, diff_graphs(base, patched)))
    _check_mermaid(text)
    assert '["+ A #quot;quoted#quot; #124; #lt;b#gt;#35;1#lt;/b#gt;"]' in text
    assert '["\u2212 A"]' in text
    assert "class n0 added" in text and "class n1 removed" in text


def test_svg_is_csp_safe_and_escapes_names(settings) -> None:
    code = "from agents import Agent\na = Agent(name='<script>alert(1)</script>', model='x')\n"
    svg = to_svg(drawing_of(build_graph(code)))
    assert svg.startswith("<svg")
    assert "<script" not in svg and "style=" not in svg and "<!--" not in svg
    assert "&lt;script&gt;" in svg


def test_svg_diff_marks_changes_in_text_not_only_colour() -> None:
    after = SAMPLE_CODE.replace("tools=[lookup_invoice]", "tools=[lookup_invoice, WebSearchTool()]")
    base, patched = build_graph(SAMPLE_CODE), build_graph(after)
    svg = to_svg(diff_drawing(base, patched, diff_graphs(base, patched)))
    assert 'class="node tool added"' in svg
    assert "+ WebSearchTool" in svg
    assert "~ Billing Agent" in svg and "changed: tools" in svg
    assert "#15803d" in svg  # and green


def test_large_graphs_are_not_drawn(settings) -> None:
    settings.GRAPH_MAX_DRAWN_NODES = 2
    from projects.graph_render import GraphTooLarge

    with pytest.raises(GraphTooLarge, match="GRAPH_MAX_DRAWN_NODES"):
        to_svg(drawing_of(build_graph(SAMPLE_CODE)))


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
