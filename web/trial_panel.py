"""What the "Try it" panels (project and review pages) need from the server: the entry a
trial runs unless the person picks another, what they may pick, and the graph's nodes
by id, so that static/trials.js can find the drawn node (whose link names its id) of
an agent or tool a span names.

Computed from the code shown, with the same rules the trial itself uses
(`trials.entry`), so that the default the page announces is the one that runs.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

from projects.graph.reader import build_graph
from trials import entry as entries


@dataclass(frozen=True)
class TrialPanel:
    # What runs when the person picks nothing ("" when nothing runnable was found).
    entry: str
    # The agents' names, then the workflow functions ("run_workflow()"), in file order.
    choices: list[str] = field(default_factory=list)
    # Why nothing can run, when nothing can (the trial's own words).
    problem: str = ""
    # [node id, label, kind] of every graph node.
    nodes: list[list[str]] = field(default_factory=list)

    def as_config(self) -> dict[str, Any]:
        return asdict(self)


def trial_panel(code: str, main_file: str) -> TrialPanel:
    try:
        graph = build_graph(code)
    except ValueError:
        # The trial will say why it does not import; nothing to pick from meanwhile.
        return TrialPanel(entry="")
    agents = [n.label for n in graph.agents()]
    choices = list(dict.fromkeys(agents)) + [
        f"{name}()" for name in entries.workflow_functions(code)
    ]
    nodes = [[n.id, n.label, n.kind] for n in graph.nodes]
    try:
        chosen = entries.choose(code, main_file, None)
    except entries.NoEntry as exc:
        return TrialPanel(entry="", choices=choices, problem=str(exc), nodes=nodes)
    return TrialPanel(entry=chosen.label if chosen else "", choices=choices, nodes=nodes)
