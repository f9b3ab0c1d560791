"""Graphviz's limits: an edge cap beside the node cap, and a time limit that kills `dot`.

A graph that is not drawn is still answered (200) with its data and the reason.
"""

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from projects.graph import render
from projects.graph.reader import build_graph
from projects.graph.render import GraphTooLarge, drawing_of, to_svg
from projects.models import Project
from projects.services import create_project
from tests.support.slow_graphs import all_hand_off, ring_with_tools

pytestmark = pytest.mark.django_db

# 30 agents handing off to each other: 900 edges in 2.3 KB, minutes of `dot`.
EVERYONE_HANDS_OFF = all_hand_off(30)


@pytest.fixture(autouse=True)
def _no_remembered_layouts() -> None:
    render._layout.cache_clear()


def _dot_children() -> list[int]:
    """Processes started by this one that are still `dot` (and not yet reaped)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if parent == os.getpid() and name == "dot":
            found.append(int(proc.name))
    return found


@pytest.fixture
def crowded(user: Any) -> Project:
    return create_project(user, "Everyone hands off", EVERYONE_HANDS_OFF)


def test_graphs_over_the_edge_cap_are_answered_with_their_data_and_the_reason(
    api: Any, crowded: Project, settings: Any
) -> None:
    settings.GRAPH_MAX_DRAWN_EDGES = 300
    started = time.monotonic()
    response = api.get(f"/api/projects/{crowded.id}/graph?format=svg")
    assert time.monotonic() - started < 10  # no layout was tried
    assert response.status_code == 200
    body = response.json()
    assert body["svg"] == "" and body["reason"] == "too_many_edges"
    assert "900 edges" in body["error"] and "GRAPH_MAX_DRAWN_EDGES" in body["error"]
    assert len(body["graph"]["edges"]) == 900 and len(body["graph"]["nodes"]) == 30
    assert body["graph"]["ref"] == crowded.current_commit


def test_the_largest_graph_within_both_caps_is_drawn(settings: Any) -> None:
    # 150 nodes (GRAPH_MAX_DRAWN_NODES) and 300 edges (GRAPH_MAX_DRAWN_EDGES), a big but
    # ordinary workflow: drawn well within the default time limit.
    graph = build_graph(ring_with_tools(75, extra_handoffs=150))
    assert (len(graph.nodes), len(graph.edges)) == (150, 300)
    assert len(graph.nodes) == settings.GRAPH_MAX_DRAWN_NODES
    assert len(graph.edges) == settings.GRAPH_MAX_DRAWN_EDGES
    svg = to_svg(drawing_of(graph))
    assert svg.startswith("<svg") and "Agent 74" in svg
    settings.GRAPH_MAX_DRAWN_EDGES = 299
    with pytest.raises(GraphTooLarge, match="300 edges"):
        to_svg(drawing_of(graph))


def test_a_layout_past_the_time_limit_is_killed_and_answered_with_the_reason(
    api: Any, crowded: Project, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.GRAPH_MAX_DRAWN_EDGES = 10_000
    settings.GRAPH_LAYOUT_TIMEOUT_SECONDS = 1.5
    layouts: list[list[str]] = []
    real_popen = subprocess.Popen

    def counted_popen(command: list[str], **options: Any) -> Any:
        layouts.append(command)
        return real_popen(command, **options)

    monkeypatch.setattr(render.subprocess, "Popen", counted_popen)
    started = time.monotonic()
    response = api.get(f"/api/projects/{crowded.id}/graph?format=svg")
    took = time.monotonic() - started
    assert response.status_code == 200
    body = response.json()
    assert body["reason"] == "layout_too_slow" and body["svg"] == ""
    assert "1.5 seconds" in body["error"] and "GRAPH_LAYOUT_TIMEOUT_SECONDS" in body["error"]
    assert len(body["graph"]["edges"]) == 900
    assert 1.5 <= took < 30  # stopped at the limit, not after the minutes it would take
    assert _dot_children() == []  # killed and reaped
    # The verdict is kept for this graph: asked again, no second hopeless layout.
    again = api.get(f"/api/projects/{crowded.id}/graph?format=svg").json()
    assert again["reason"] == "layout_too_slow"
    assert len(layouts) == 1


def test_a_graphviz_that_cannot_run_is_named(api: Any, user: Any, settings: Any) -> None:
    settings.GRAPHVIZ_DOT = "/nonexistent/dot"
    project = create_project(user, "Plain", None)
    body = api.get(f"/api/projects/{project.id}/graph?format=svg").json()
    assert body["reason"] == "layout_failed"
    assert "/nonexistent/dot" in body["error"] and "GRAPHVIZ_DOT" in body["error"]
    assert body["graph"]["nodes"]


def test_the_project_page_says_why_where_the_drawing_would_be(
    user: Any, crowded: Project, settings: Any
) -> None:
    settings.GRAPH_MAX_DRAWN_EDGES = 300
    client = Client()
    client.force_login(user)
    page = client.get(f"/projects/{crowded.id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="graph-error"' in html and "GRAPH_MAX_DRAWN_EDGES" in html
    assert 'id="graph-drawing"' not in html
    # The nodes are still there to follow to their lines.
    assert 'id="graph-node-list"' in html and "agent Agent 29" in html
