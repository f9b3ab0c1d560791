"""The workflow graph in a real browser (Playwright driving Debian's Chromium, headless).

The seeded project shows its three agents and two handoffs; an agent's "Open its
conversation" (in the node inspector a click opens) opens its own conversation and
highlights its lines; a review shows an added tool in green, with
its "+" mark, and follows a commit made elsewhere live.
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from projects.sample_workflow import SAMPLE_CODE
from tests.support.browser import CHROMIUM, launch_chromium
from tests.support.servers import AppServer

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
PASSWORD = "demo-graph-pass-41"
WITH_SEARCH = SAMPLE_CODE.replace(
    "from agents import Agent, Runner, function_tool",
    "from agents import Agent, Runner, WebSearchTool, function_tool",
).replace("tools=[lookup_invoice]", "tools=[lookup_invoice, WebSearchTool()]")
POLITER = SAMPLE_CODE.replace("You solve technical problems", "You politely solve problems")

MAKE_DIFFS = """
import json
from agents_app.patching import unified_diff
from accounts.tokens import create_token
from projects.models import Project
from reviews.models import Diff
from sessions_app.services import get_or_create_session
project = Project.objects.get(name="Agent Triage System")
session, _ = get_or_create_session(project, "global")
ids = []
for new_code in json.loads({codes!r}):
    ids.append(str(Diff.objects.create(
        session=session, project=project, base_commit=project.current_commit,
        diff_content=unified_diff(project.current_code, new_code, project.main_file),
        patched_code=new_code, vibecoder_prompt="change it", evaluator_reasoning="Fine.",
        commit_message="feat: change it", status="evaluator_approved",
    ).id))
print(json.dumps({{"project_id": str(project.id), "diffs": ids,
                  "token": create_token(project.owner)}}))
"""


@pytest.fixture
def seeded() -> Iterator[tuple[AppServer, dict]]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs the Debian package")
    server = AppServer(DEMO_PASSWORD=PASSWORD)
    try:
        server.manage("migrate", "--no-input", "-v0")
        server.manage("seed")
        made = server.python(MAKE_DIFFS.format(codes=json.dumps([WITH_SEARCH, POLITER])))
        server.start()
        yield server, made
    finally:
        server.stop()


def test_project_graph_node_conversation_and_review_graph_diff(seeded) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, made = seeded
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        console: list[str] = []
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))

        page.goto(f"{server.url}/login/")
        page.fill("input[name=username]", "demo")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.click("text=Agent Triage System")

        drawing = page.locator("#graph-drawing svg")
        expect(drawing).to_be_visible()
        agents = drawing.locator("g.node.agent")
        expect(agents).to_have_count(3)
        for name in ("Billing Agent", "Technical Support Agent", "▶ Triage Agent"):
            expect(agents.filter(has_text=name)).to_have_count(1)
        expect(drawing.locator("g.edge.handoff")).to_have_count(2)
        expect(drawing.locator("g.edge.tool")).to_have_count(2)
        expect(page.locator("#node-name")).to_have_count(0)

        # A click inspects the node (reviews/tests/test_node_inspector_browser.py); its
        # "Open its conversation" is what a click did before.
        agents.filter(has_text="Triage Agent").locator("a").click()
        expect(page.locator("#node-inspector")).to_be_visible()
        if os.environ.get("VIBEGRAPHER_SCREENSHOTS"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "graph-project.png"), full_page=True)
        agents.filter(has_text="Billing Agent").locator("a").click()
        page.locator("#node-inspector .node-details:visible .node-conversation").click()
        expect(page.locator("#node-name")).to_have_text("Billing Agent")
        highlighted = page.locator("#code .hll")
        expect(highlighted.first).to_contain_text("billing_agent = Agent(")
        expect(highlighted).to_have_count(6)
        expect(highlighted.last).to_have_text(")")
        expect(page.locator("#code")).to_contain_text("Technical Support Agent")
        expect(drawing.locator("g.node.agent.focused")).to_contain_text("Billing Agent")
        # The prompt now goes to the Billing Agent's own session.
        config = json.loads(page.locator("#vg-config").text_content() or "{}")
        headers = {"Authorization": f"Token {made['token']}"}
        session = httpx.get(
            f"{server.url}/api/sessions/{config['sessionId']}", headers=headers
        ).json()
        assert (session["session_type"], session["node_id"]) == ("node", "Billing Agent")

        added_diff, other_diff = made["diffs"]
        page.goto(f"{server.url}/diffs/{added_diff}/")
        panel = page.locator("#graph-diff")
        added = panel.locator("g.node.tool.added")
        expect(added).to_contain_text("+ WebSearchTool")
        assert added.locator("ellipse").first.get_attribute("stroke") == "#15803d"
        expect(panel.locator("g.node.agent.changed")).to_contain_text("changed: tools")
        expect(panel.locator("#graph-changes .added").first).to_contain_text("+ added: tool")
        expect(panel.locator(".graph-legend")).to_contain_text("+ added")
        if os.environ.get("VIBEGRAPHER_SCREENSHOTS"):
            panel.screenshot(path=str(SCREENSHOTS / "graph-review.png"))

        # Another change is committed elsewhere: the drawing is fetched again, live.
        for step, body in (("review", {"approved": True}), ("commit", {})):
            answer = httpx.post(
                f"{server.url}/api/diffs/{other_diff}/{step}", json=body, headers=headers
            )
            assert answer.status_code == 200, answer.text
        expect(panel).to_have_attribute("data-refreshed", "1")
        expect(panel.locator("g.node.tool.added")).to_contain_text("+ WebSearchTool")
        browser.close()
    violations = [line for line in console if "Content Security Policy" in line]
    assert violations == [], violations
