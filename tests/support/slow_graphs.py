"""Workflows whose graphs are slow to lay out, for the tests and benchmarks of the limits.

Graphviz's layout time grows much faster than a graph's edges: agents that all hand
off to each other (n² edges, each with a label) take `dot` seconds at 18 agents and
minutes at 30, in a file of about 2 KB.
"""


def all_hand_off(agents: int) -> str:
    """`agents` agents, each handing off to every one of them (itself included)."""
    lines = ["from agents import Agent", ""]
    lines += [f"a{i} = Agent(name='Agent {i}', instructions='Step {i}.')" for i in range(agents)]
    lines += ["team = [" + ", ".join(f"a{i}" for i in range(agents)) + "]"]
    lines += [f"a{i}.handoffs = team" for i in range(agents)]
    return "\n".join(lines) + "\n"


def ring_with_tools(agents: int, extra_handoffs: int = 0) -> str:
    """A large legitimate workflow: `agents` agents with a tool each, handing off in a
    ring, and `extra_handoffs` more: back to the one before, then two ahead."""
    lines = ["from agents import Agent, function_tool", ""]
    for i in range(agents):
        lines += [f"@function_tool\ndef tool_{i}(x: str) -> str:\n    return x\n"]
    for i in range(agents):
        lines += [f"a{i} = Agent(name='Agent {i}', instructions='Step {i}.', tools=[tool_{i}])"]
    for i in range(agents):
        lines += [f"a{i}.handoffs.append(a{(i + 1) % agents})"]
    for n in range(extra_handoffs):
        i, step = n % agents, (-1 if n < agents else 2)
        lines += [f"a{i}.handoffs.append(a{(i + step) % agents})"]
    return "\n".join(lines) + "\n"
