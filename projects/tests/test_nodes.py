import pytest

from projects.nodes import find_agents
from projects.sample_workflow import SAMPLE_CODE, STARTER_CODE


def test_sample_workflow_graph() -> None:
    nodes = {node.name: node for node in find_agents(SAMPLE_CODE)}

    assert set(nodes) == {"Billing Agent", "Technical Support Agent", "Triage Agent"}
    triage = nodes["Triage Agent"]
    assert triage.variable == "triage_agent"
    assert triage.handoffs == ["Billing Agent", "Technical Support Agent"]
    assert nodes["Billing Agent"].tools == ["lookup_invoice"]
    assert SAMPLE_CODE.splitlines()[triage.start_line - 1].startswith("triage_agent = Agent(")
    assert SAMPLE_CODE.splitlines()[triage.end_line - 1] == ")"


def test_starter_code_has_one_agent() -> None:
    assert [n.name for n in find_agents(STARTER_CODE)] == ["Assistant"]


def test_handoff_helpers_and_inline_agents() -> None:
    code = (
        "from agents import Agent, handoff\n"
        "a = Agent(name='A')\n"
        "b = Agent('B', handoffs=[handoff(a), Agent(name='Inline')])\n"
    )
    nodes = {n.name: n for n in find_agents(code)}
    assert nodes["B"].handoffs == ["A", "Inline"]
    assert "Inline" in nodes and nodes["Inline"].variable is None


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(ValueError, match="line 2"):
        find_agents("x = 1\ny = (\n")
