"""Drawing the workflow graph: Mermaid's flowchart syntax, the SVG's safety and marks."""

import re
from pathlib import Path

import pytest

from projects.graph.reader import build_graph, diff_graphs
from projects.graph.render import diff_drawing, drawing_of, to_mermaid, to_svg
from projects.sample_workflow import SAMPLE_CODE

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_FILES = sorted(FIXTURES.glob("*.py"))

ROUTED = """\
from agents import Agent, Runner
triage = Agent(name="Triage")
billing = Agent(name="Billing")
other = Agent(name="Other")
summary = Agent(name="Summary")

def handle(text):
    kind = Runner.run_sync(triage, text).final_output.kind
    if kind == "billing":
        answer = Runner.run_sync(billing, text)
    else:
        answer = Runner.run_sync(other, text)
    return Runner.run_sync(summary, answer.final_output)
"""


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
    from projects.graph.render import GraphTooLarge

    with pytest.raises(GraphTooLarge, match="GRAPH_MAX_DRAWN_NODES"):
        to_svg(drawing_of(build_graph(SAMPLE_CODE)))


def test_routes_are_drawn_with_their_conditions() -> None:
    drawing = drawing_of(build_graph(ROUTED))
    text = to_mermaid(drawing)
    _check_mermaid(text)
    assert "-.->|\"if kind == 'billing'\"|" in text and '-->|"then"|' in text
    svg = to_svg(drawing)
    assert 'class="edge route"' in svg and 'class="edge then"' in svg
    assert "if kind == &#39;billing&#39;" in svg or "if kind == 'billing'" in svg
