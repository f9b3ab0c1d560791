"""Valid code that nests deeply, through the API and the pages: a clear 400 or a project
whose graph, nodes and page all answer 200, never a 500 and never half a project.

Also code stored before the nesting check (or committed to git by other means) and a
diff carrying such code: the graph endpoints and the pages read it without failing.
"""

from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from agents_app.patching import unified_diff
from projects.models import Project
from projects.services import commit_project_code, create_project
from reviews.models import Diff
from sessions_app.services import get_or_create_session

pytestmark = pytest.mark.django_db

AGENT = "from agents import Agent\n"
DEEP = {
    # The reported case: about 950 nested lambdas, 7.6 KB.
    "lambdas": "x = " + "lambda: " * 950 + "1\n",
    "lambdas in an agent's tools": AGENT
    + "a = Agent(name='A', tools=["
    + "lambda: " * 900
    + "1])\n",
    "if/else expressions": "x = " + "1 if c else " * 950 + "1\n",
    "not": "x = " + "not " * 950 + "1\n",
    "unary minus": "x = " + "-" * 950 + "1\n",
    "parentheses": "x = " + "(" * 190 + "1" + ")" * 190 + "\n",
    "lists": AGENT + "a = Agent(name='A', handoffs=" + "[" * 180 + "b" + "]" * 180 + ")\n",
    "calls": "x = " + "f(" * 180 + "1" + ")" * 180 + "\n",
    "dicts": "x = " + "{1: " * 180 + "1" + "}" * 180 + "\n",
    "binary operators": "x = " + " + ".join(["[a]"] * 3000) + "\n",
    "string concatenation (legitimate)": "p = " + " + ".join(["'line'"] * 150) + "\n",
    "attribute chain": AGENT + "a = Agent(name='A', tools=[x" + ".y" * 400 + "])\n",
    "nested defs": "".join("    " * i + f"def f{i}():\n" for i in range(98))
    + "    " * 98
    + "a = Agent(name='Deep')\n",
}
LEGITIMATE = sorted(
    (Path(__file__).parent / "graph" / "fixtures").glob("*.py"), key=lambda p: p.stat().st_size
)


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_everything_answers(api: APIClient, browser: Client, project_id: str) -> None:
    for url in (
        f"/api/projects/{project_id}",
        f"/api/projects/{project_id}/graph",
        f"/api/projects/{project_id}/graph?format=mermaid",
        f"/api/projects/{project_id}/nodes",
    ):
        response = api.get(url)
        assert response.status_code == 200, (url, response.content[:300])
    assert browser.get(f"/projects/{project_id}/").status_code == 200
    for node in api.get(f"/api/projects/{project_id}/nodes").json():
        page = browser.get(f"/projects/{project_id}/", {"focus": f"agent:{node['name']}"})
        assert page.status_code == 200


@pytest.mark.parametrize("code", DEEP.values(), ids=DEEP.keys())
def test_deep_code_is_a_clear_400_or_a_project_that_answers(api, browser, media_root, code) -> None:
    response = api.post("/api/projects", {"name": "Deep", "code": code}, format="json")

    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 400:
        message = response.json()["code"][0]
        assert "MAX_CODE_NESTING" in message or "nested too deeply" in message, message
        assert not Project.objects.exists()
        assert not any((media_root / "projects").glob("[!.]*"))
        return
    assert_everything_answers(api, browser, response.json()["id"])


def test_the_reported_case_names_the_limit_and_the_line(api) -> None:
    code = "import os\n\nx = " + "lambda: " * 950 + "1\n"
    response = api.post("/api/projects", {"name": "Lambdas", "code": code}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == [
        "The code nests more than 200 levels deep at line 3 (brackets, calls, lambdas, "
        "operators, conditional expressions or blocks inside one another); the limit is "
        "200 (MAX_CODE_NESTING). Give the inner parts names of their own."
    ]


@pytest.mark.parametrize("path", LEGITIMATE, ids=lambda p: p.stem)
def test_every_fixture_workflow_is_far_inside_the_limit(api, path, settings) -> None:
    # The limit must not refuse real workflows, even at a tenth of its value.
    settings.MAX_CODE_NESTING = 20
    response = api.post(
        "/api/projects", {"name": path.stem, "code": path.read_text()}, format="json"
    )
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize("code", DEEP.values(), ids=DEEP.keys())
def test_deep_code_already_in_git_still_answers(api, browser, user, code) -> None:
    # Stored before the check existed, or committed to the repository by other means.
    project = create_project(user, "Stored", AGENT + "a = Agent(name='A')\n")
    commit_project_code(project.id, code, "deep", "A", "a@x", project.current_commit)

    assert_everything_answers(api, browser, str(project.id))


@pytest.mark.parametrize(
    "code",
    [DEEP["lambdas in an agent's tools"], DEEP["lambdas"], "x = " + "-" * 100_000 + "1\n"],
    ids=["lambdas in tools", "lambdas", "beyond the parser"],
)
def test_a_diff_carrying_deep_code_has_a_graph_and_a_review_page(api, browser, user, code) -> None:
    base = AGENT + "a = Agent(name='A')\n"
    project = create_project(user, "Reviewed", base)
    session, _ = get_or_create_session(project, "global")
    diff = Diff.objects.create(
        session=session,
        project=project,
        base_commit=project.current_commit,
        diff_content=unified_diff(base, code, project.main_file),
        patched_code=code,
        vibecoder_prompt="nest it",
        evaluator_reasoning="Fine.",
        commit_message="deep",
    )

    for url in (f"/api/diffs/{diff.id}/graph", f"/api/diffs/{diff.id}/graph?format=mermaid"):
        response = api.get(url)
        assert response.status_code == 200, response.content[:300]
    assert browser.get(f"/diffs/{diff.id}/").status_code == 200


def test_the_page_form_refuses_deep_code_and_keeps_it(browser) -> None:
    response = browser.post("/", {"name": "Deep", "code": DEEP["lambdas"]})

    assert response.status_code == 200
    assert "MAX_CODE_NESTING" in response.content.decode()
    assert not Project.objects.exists()
