"""The graph on the pages (server-rendered): project page, node focus, review, create form."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from agents_app.patching import unified_diff
from projects.models import Project
from projects.sample_workflow import SAMPLE_CODE
from projects.services import create_project
from reviews.models import Diff
from sessions_app.models import VibecodeSession
from sessions_app.services import get_or_create_session

pytestmark = pytest.mark.django_db

EXPORT = (
    Path(__file__).resolve().parents[2]
    / "projects/tests/graph/fixtures/agent_builder_mcp_approval.py"
).read_text()


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def project(user) -> Project:
    return create_project(user, "Triage", SAMPLE_CODE)


def test_project_page_draws_the_graph_beside_the_code(browser, project) -> None:
    page = browser.get(f"/projects/{project.id}/").content.decode()

    assert page.count('class="node agent') == 3
    assert page.count('class="edge handoff"') == 2
    assert "▶ Triage Agent" in page
    assert f"/projects/{project.id}/?focus=agent%3ABilling%20Agent#code-line-20" in page
    assert 'id="code-line-20"' in page  # the link's target
    assert "style=" not in page.split('id="graph-drawing"')[1].split("</svg>")[0]


def test_focus_on_an_agent_opens_its_conversation_and_marks_its_lines(browser, project) -> None:
    response = browser.get(f"/projects/{project.id}/?focus=agent:Billing Agent")
    page = response.content.decode()

    session = response.context["session"]
    assert (session.session_type, session.node_id) == ("node", "Billing Agent")
    assert '<span id="node-name">Billing Agent</span>' in page
    assert page.count('<span class="hll">') == 6  # lines 20-25
    assert VibecodeSession.objects.filter(project=project, node_id="Billing Agent").count() == 1


def test_focus_on_a_tool_marks_its_lines_in_the_global_conversation(browser, project) -> None:
    response = browser.get(f"/projects/{project.id}/?focus=tool:lookup_invoice")
    assert response.context["session"].session_type == "global"
    assert response.content.decode().count('<span class="hll">') == 4  # from its decorator


def test_unknown_focus_is_ignored(browser, project) -> None:
    response = browser.get(f"/projects/{project.id}/?focus=agent:Nobody")
    assert response.status_code == 200
    assert response.context["session"].session_type == "global"


def test_review_page_shows_the_graph_change(browser, project) -> None:
    new = SAMPLE_CODE.replace("[billing_agent, technical_agent]", "[billing_agent]")
    session, _ = get_or_create_session(project, "global")
    diff = Diff.objects.create(
        session=session, project=project, base_commit=project.current_commit,
        diff_content=unified_diff(SAMPLE_CODE, new, "workflow.py"), patched_code=new,
        vibecoder_prompt="no tech", evaluator_reasoning="ok", commit_message="m",
    )  # fmt: skip
    page = browser.get(f"/diffs/{diff.id}/").content.decode()

    assert page.index('id="graph-diff"') < page.index('id="diff"')
    assert 'class="edge handoff removed"' in page
    assert "\u2212 handoff" in page
    assert "~ ▶ Triage Agent" in page and "changed: handoffs" in page
    assert "removed: handoff: Triage Agent → Technical Support Agent" in page
    assert "flowchart TB" in page  # the Mermaid text to copy
    assert "graph.js" in page


def test_create_from_pasted_code_shows_its_graph_and_what_is_unresolved(browser) -> None:
    response = browser.post("/", {"name": "Mailer", "code": EXPORT}, follow=True)

    project = Project.objects.get(name="Mailer")
    assert (project.current_code, project.main_file) == (EXPORT, "workflow.py")
    page = response.content.decode()
    assert "could not resolve" in page and "escalation_agent (line 48)" in page
    assert page.count('class="node agent') == 2
    assert 'id="graph-unresolved"' in page


def test_create_from_an_uploaded_file(browser) -> None:
    upload = SimpleUploadedFile("export.py", SAMPLE_CODE.encode(), content_type="text/x-python")
    browser.post("/", {"name": "Uploaded", "file": upload})
    assert Project.objects.get(name="Uploaded").current_code == SAMPLE_CODE


def test_create_refuses_code_that_does_not_parse_and_keeps_it(browser) -> None:
    response = browser.post("/", {"name": "Broken", "code": "def (:\n"})
    page = response.content.decode()
    assert response.status_code == 200
    # The error beside the code, the name and the code kept in the form to fix.
    error = page.split('<p id="code-error" class="field-error" role="alert">', 1)[1]
    assert error.startswith("The pasted code is not valid Python: line 1")
    assert 'aria-describedby="code-error"' in page
    assert (
        'name="name" placeholder="New project name" maxlength="100" required value="Broken"' in page
    )
    assert "def (:" in page and '<details id="create-from-code" open>' in page
    assert not Project.objects.filter(name="Broken").exists()
    upload = SimpleUploadedFile("bad.py", b"\xff\xfe", content_type="text/x-python")
    response = browser.post("/", {"name": "Binary <b>", "file": upload})
    page = response.content.decode()
    assert 'role="alert">The file bad.py is not UTF-8 text (byte 0); save it as UTF-8.</p>' in page
    assert 'value="Binary &lt;b&gt;"' in page


def test_api_create_answers_the_graph(api) -> None:
    body = api.post("/api/projects", {"name": "Export", "code": EXPORT}, format="json").json()
    assert body["main_file"] == "workflow.py"
    assert [n["label"] for n in body["graph"]["nodes"] if n["kind"] == "agent"] == [
        "Analyst",
        "Mailer",
    ]
    assert body["graph"]["unresolved"] == [{"name": "escalation_agent", "line": 48}]


def _details(page: str, node_id: str) -> str:
    """The node inspector's hidden section of one node."""
    return page.split(f'class="node-details" data-node-id="{node_id}"', 1)[1].split(
        "</section>", 1
    )[0]


def test_project_page_carries_each_nodes_details_for_the_inspector(browser, project) -> None:
    page = browser.get(f"/projects/{project.id}/").content.decode()

    assert 'id="node-inspector" aria-label="Node inspector" hidden>' in page
    assert page.count('class="node-details" data-node-id=') == 5  # two tools, three agents
    triage = _details(page, "agent:Triage Agent")
    assert "hand off to that specialist. Do not answer yourself." in triage  # whole text
    handoffs = triage.split('class="node-handoffs"', 1)[1].split("</dd>", 1)[0]
    assert 'data-node-id="agent:Billing Agent">Billing Agent</a>' in handoffs
    assert 'data-node-id="agent:Technical Support Agent">' in handoffs
    assert "the SDK's default" in triage  # no model= in the sample
    assert '<span class="badge">entry</span>' in triage
    billing = _details(page, "agent:Billing Agent")
    assert 'data-node-id="tool:lookup_invoice">lookup_invoice</a>' in billing
    assert "handoff" in billing.split('class="node-incoming"', 1)[1]  # from the Triage Agent
    assert f'href="/projects/{project.id}/?focus=agent%3ABilling%20Agent">Open its conv' in billing
    assert f'href="/projects/{project.id}/?lines=agent%3ABilling%20Agent#code-line-20"' in billing
    assert "lines 20\u201325" in billing
    tool = _details(page, "tool:lookup_invoice")
    assert "Open its conversation" not in tool and "function" in tool


def test_inspector_folds_long_instructions_and_lists_guardrails(browser, user) -> None:
    fixtures = Path(__file__).resolve().parents[2] / "projects/tests/graph/fixtures"
    code = (fixtures / "input_guardrails.py").read_text()
    long_text = "\\n".join(f"Rule {i}: be kind." for i in range(10))
    code = code.replace(
        '"You are a customer support agent. You help customers with their questions."',
        f'"You are a customer support agent.\\n{long_text}"',
    )
    project = create_project(user, "Guarded", code)
    page = browser.get(f"/projects/{project.id}/").content.decode()

    agent = _details(page, "agent:Customer support agent")
    assert "<details><summary>You are a customer support agent.</summary>" in agent
    assert "Rule 9: be kind." in agent
    guardrails = agent.split('class="node-guardrails"', 1)[1].split("</dd>", 1)[0]
    assert ">math_guardrail</a>" in guardrails and "input guardrail" in guardrails


def test_lines_marks_a_nodes_lines_and_keeps_the_conversation(browser, project) -> None:
    response = browser.get(f"/projects/{project.id}/?lines=agent:Billing Agent")
    assert response.context["session"].session_type == "global"
    assert response.content.decode().count('<span class="hll">') == 6  # lines 20-25
    assert 'id="code-span-20"' in response.content.decode()
