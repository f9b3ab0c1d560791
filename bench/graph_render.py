"""How long the workflow graph takes: reading the file with `ast`, and Graphviz's layout.

For the seeded workflow, each fixture of projects/tests/graph/fixtures, and synthetic
workflows of 10, 40 and 70 agents (each with a tool, handing off in a ring), prints the
median of N runs of `build_graph` and of `to_svg` (one `dot` process each).

Usage: DEBUG=true .venv/bin/python bench/graph_render.py [--runs 10]
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibegrapher.settings")

import django  # noqa: E402

django.setup()

from projects.graph.reader import build_graph  # noqa: E402
from projects.graph.render import drawing_of, to_svg  # noqa: E402
from projects.sample_workflow import SAMPLE_CODE  # noqa: E402


def synthetic(agents: int) -> str:
    lines = ["from agents import Agent, Runner, function_tool", ""]
    for i in range(agents):
        lines += [f"@function_tool\ndef tool_{i}(x: str) -> str:\n    return x\n"]
    for i in range(agents):
        lines += [f"a{i} = Agent(name='Agent {i}', instructions='Step {i}.', tools=[tool_{i}])"]
    for i in range(agents):
        lines += [f"a{i}.handoffs.append(a{(i + 1) % agents})"]
    lines += ["Runner.run_sync(a0, 'go')"]
    return "\n".join(lines) + "\n"


def median_ms(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    cases = [("seeded workflow", SAMPLE_CODE)]
    cases += [
        (path.stem, path.read_text())
        for path in sorted((ROOT / "projects/tests/graph/fixtures").glob("*.py"))
    ]
    cases += [(f"synthetic {n} agents", synthetic(n)) for n in (10, 40, 70)]
    print(f"{'workflow':32} {'nodes':>5} {'edges':>5} {'ast ms':>8} {'svg ms':>8}")
    for name, code in cases:
        graph = build_graph(code)
        read = median_ms(partial(build_graph, code), runs)
        draw = median_ms(partial(to_svg, drawing_of(graph)), runs)
        print(f"{name:32} {len(graph.nodes):5} {len(graph.edges):5} {read:8.2f} {draw:8.1f}")


if __name__ == "__main__":
    main()
