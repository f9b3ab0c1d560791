"""The graph endpoints: a project's graph at HEAD or a commit, a diff's graph change."""

import pytest

from agents_app.patching.render import unified_diff
from projects.models import Project
from projects.sample_workflow import SAMPLE_CODE
from projects.services import author_of, commit_project_code, create_project
from reviews.models import Diff
from sessions_app.services import get_or_create_session

pytestmark = pytest.mark.django_db

WITH_SEARCH = SAMPLE_CODE.replace(
    "from agents import Agent, Runner, function_tool",
    "from agents import Agent, Runner, WebSearchTool, function_tool",
).replace("tools=[lookup_invoice]", "tools=[lookup_invoice, WebSearchTool()]")


@pytest.fixture
def project(user) -> Project:
    return create_project(user, "Triage", SAMPLE_CODE)


def make_diff(project: Project, new_code: str) -> Diff:
    session, _ = get_or_create_session(project, "global")
    return Diff.objects.create(
        session=session,
        project=project,
        base_commit=project.current_commit,
        diff_content=unified_diff(project.current_code, new_code, project.main_file),
        patched_code=new_code,
        vibecoder_prompt="search the web too",
        evaluator_reasoning="Fine.",
        commit_message="feat: web search for billing",
    )


def test_project_graph_at_head(api, project) -> None:
    response = api.get(f"/api/projects/{project.id}/graph")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"ref", "main_file", "nodes", "edges", "entry", "unresolved"}
    assert (body["ref"], body["main_file"]) == (project.current_commit, "workflow.py")
    agents = [n["label"] for n in body["nodes"] if n["kind"] == "agent"]
    assert agents == ["Billing Agent", "Technical Support Agent", "Triage Agent"]
    handoffs = [(e["source"], e["target"]) for e in body["edges"] if e["kind"] == "handoff"]
    assert handoffs == [
        ("agent:Triage Agent", "agent:Billing Agent"),
        ("agent:Triage Agent", "agent:Technical Support Agent"),
    ]
    assert body["entry"] == ["agent:Triage Agent"]
    assert body["unresolved"] == []
    billing = next(n for n in body["nodes"] if n["id"] == "agent:Billing Agent")
    assert set(billing) >= {"line", "end_line", "variable", "model", "instructions", "output_type"}


def test_project_graph_at_an_older_commit(api, user, project) -> None:
    first = project.current_commit
    name, email = author_of(user)
    commit_project_code(project.id, WITH_SEARCH, "add search", name, email, first)

    head = api.get(f"/api/projects/{project.id}/graph").json()
    old = api.get(f"/api/projects/{project.id}/graph?ref={first}").json()
    short = api.get(f"/api/projects/{project.id}/graph?ref={first[:10]}").json()

    assert "tool:WebSearchTool" in {n["id"] for n in head["nodes"]}
    assert "tool:WebSearchTool" not in {n["id"] for n in old["nodes"]}
    assert old["ref"] == first and short["nodes"] == old["nodes"]


def test_bad_refs_and_formats_are_clear_4xx(api, project) -> None:
    url = f"/api/projects/{project.id}/graph"
    bad = api.get(f"{url}?ref=HEAD~1")
    assert bad.status_code == 400 and "ref" in bad.json()
    missing = api.get(f"{url}?ref={'0' * 40}")
    assert missing.status_code == 404 and "No commit" in missing.json()["detail"]
    fmt = api.get(f"{url}?format=png")
    assert fmt.status_code == 400 and "format" in fmt.json()


def test_graphs_of_other_peoples_projects_and_diffs_are_404(api, other_api, project) -> None:
    diff = make_diff(project, WITH_SEARCH)
    assert other_api.get(f"/api/projects/{project.id}/graph").status_code == 404
    assert other_api.get(f"/api/diffs/{diff.id}/graph").status_code == 404
    assert other_api.get(f"/api/diffs/{diff.id}/graph?format=mermaid").status_code == 404
    assert api.get(f"/api/diffs/{diff.id}/graph").status_code == 200


def test_anonymous_is_refused(anon_api, project) -> None:
    assert anon_api.get(f"/api/projects/{project.id}/graph").status_code in (401, 403)


def test_diff_graph_names_the_change(api, project) -> None:
    diff = make_diff(project, WITH_SEARCH)

    body = api.get(f"/api/diffs/{diff.id}/graph").json()

    assert set(body) == {"diff_id", "base_commit", "base", "patched", "change"}
    assert body["change"] == {
        "nodes_added": ["tool:WebSearchTool"],
        "nodes_removed": [],
        "nodes_changed": [{"id": "agent:Billing Agent", "attributes": ["tools"]}],
        "edges_added": [
            {
                "source": "agent:Billing Agent",
                "target": "tool:WebSearchTool",
                "kind": "tool",
                "label": "",
            }
        ],
        "edges_removed": [],
    }
    assert len(body["patched"]["nodes"]) == len(body["base"]["nodes"]) + 1


def test_mermaid_and_svg_formats(api, project) -> None:
    diff = make_diff(project, WITH_SEARCH)

    mermaid = api.get(f"/api/diffs/{diff.id}/graph?format=mermaid").json()["mermaid"]
    assert mermaid.startswith("flowchart TB\n")
    assert '(["+ WebSearchTool<br/>hosted tool"])' in mermaid
    project_mermaid = api.get(f"/api/projects/{project.id}/graph?format=mermaid").json()
    assert '["▶ Triage Agent"]' in project_mermaid["mermaid"]

    svg = api.get(f"/api/diffs/{diff.id}/graph?format=svg").json()
    assert svg["svg"].startswith("<svg") and svg["error"] == ""
