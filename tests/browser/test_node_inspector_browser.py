"""The node inspector on the project page, in a real browser (Playwright + Chromium).

Clicking a graph node, or Enter on it, shows the node beside the graph (below it on a
phone) without a reload and without moving the page: the conversation and its prompt stay
where they are. The inspector shows the node's model, whole instructions and handoffs,
marks its lines when asked, and opens an agent's own conversation. Escape or Close gives
focus back to the node. The same holds for the list of nodes shown when the graph is too
big to draw.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projects.sample_workflow import SAMPLE_CODE
from tests.support.browser import CHROMIUM, chromium_browser
from tests.support.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.browser

WAIT_MS = 20_000
PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1440, "height": 900}
USER, PASSWORD = "inspector", "inspector-pass-58"
TRIAGE = SAMPLE_CODE.replace(
    '    name="Triage Agent",\n', '    name="Triage Agent",\n    model="gpt-4.1-mini",\n'
)
# One tool more than the server draws (GRAPH_MAX_DRAWN_NODES below): a list of nodes.
CROWDED = SAMPLE_CODE.replace(
    "from agents import Agent, Runner, function_tool",
    "from agents import Agent, Runner, WebSearchTool, function_tool",
).replace("tools=[lookup_invoice]", "tools=[lookup_invoice, WebSearchTool()]")
SECOND_PROJECT = """
import json
from django.contrib.auth.models import User
from projects.services import create_project
project = create_project(User.objects.get(username={user!r}), "Crowded", {code!r})
print(json.dumps({{"project_id": str(project.id)}}))
"""


@pytest.fixture(scope="module")
def served() -> Iterator[AppServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs the Debian package")
    assert TRIAGE != SAMPLE_CODE and CROWDED != SAMPLE_CODE
    server = AppServer(GRAPH_MAX_DRAWN_NODES="5")
    try:
        server.manage("migrate", "--no-input", "-v0")
        create_user_and_project(server, USER, PASSWORD, "Triage", TRIAGE)
        server.python(SECOND_PROJECT.format(user=USER, code=CROWDED))
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with chromium_browser(WAIT_MS) as browser:
        yield browser


def open_project(chromium: Any, served: AppServer, viewport: dict[str, int], name: str) -> Any:
    context = chromium.new_context(viewport=viewport)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.console_lines = console
    page.goto(f"{served.url}/login/")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.click(f"text={name}")
    page.wait_for_load_state("load")
    # A reload would forget this: the inspector works in the page as it is.
    page.evaluate("window.notReloaded = true")
    return page


def where_the_prompt_is(page: Any) -> tuple[float, float]:
    """The page's scroll and the prompt's place on the screen."""
    return page.evaluate(
        "[window.scrollY, document.getElementById('prompt').getBoundingClientRect().top]"
    )


def no_sideways_scroll(page: Any) -> bool:
    """The page settles without a horizontal scroll (on a loaded machine a just-opened
    page may be measured before its styles and drawing are laid out)."""
    try:
        page.wait_for_function(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth",
            timeout=10_000,
        )
    except Exception:
        return False
    return True


def focused_node_text(page: Any) -> str:
    return str(
        page.evaluate(
            "(document.activeElement.closest('g.node') || document.activeElement).textContent"
        )
    )


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1440px", "390px"])
def test_clicking_a_node_inspects_it_beside_the_graph(
    served: AppServer, chromium: Any, viewport: dict[str, int]
) -> None:
    from playwright.sync_api import expect

    page = open_project(chromium, served, viewport, "Triage")
    nodes = page.locator("#graph-drawing g.node")
    triage = nodes.filter(has_text="Triage Agent").locator("a")
    triage.scroll_into_view_if_needed()
    page.wait_for_timeout(300)  # the page's own first scrolling (to the prompt) is over
    before = where_the_prompt_is(page)

    triage.click()
    inspector = page.locator("#node-inspector")
    expect(inspector).to_be_visible()
    shown = inspector.locator(".node-details:visible")
    expect(shown).to_have_count(1)
    expect(shown.locator("h3")).to_contain_text("Triage Agent")
    expect(shown.locator("h3")).to_be_focused()
    expect(shown.locator(".node-model")).to_have_text("gpt-4.1-mini")
    expect(shown.locator(".node-instructions")).to_have_text(
        "Decide whether the customer needs billing or technical help, "
        "and hand off to that specialist. Do not answer yourself."
    )
    handoffs = shown.locator(".node-handoffs .node-neighbour")
    expect(handoffs).to_have_text(["Billing Agent", "Technical Support Agent"])
    expect(nodes.filter(has_text="Triage Agent")).to_have_class("node agent selected")
    # No reload, no jump: the conversation's prompt is where it was.
    assert page.evaluate("window.notReloaded") is True
    assert where_the_prompt_is(page) == before
    assert "focus=" not in page.url
    drawing = page.locator("#graph-drawing").bounding_box()
    box = inspector.bounding_box()
    if viewport is WIDE:  # beside the graph
        assert box["x"] >= drawing["x"] + drawing["width"] - 1, (box, drawing)
    else:  # below it
        assert box["y"] >= drawing["y"] + drawing["height"] - 1, (box, drawing)
    assert no_sideways_scroll(page)

    # Escape closes it and gives focus back to the node.
    page.keyboard.press("Escape")
    expect(inspector).to_be_hidden()
    assert "Triage Agent" in focused_node_text(page)
    assert where_the_prompt_is(page) == before

    # The keyboard opens a node too; a handoff opens the node it goes to.
    billing = nodes.filter(has_text="Billing Agent").locator("a")
    billing.focus()
    page.keyboard.press("Enter")
    expect(shown.locator("h3")).to_contain_text("Billing Agent")
    expect(shown.locator(".node-tools .node-neighbour")).to_have_text(["lookup_invoice"])
    expect(shown.locator(".node-incoming")).to_contain_text("Triage Agent")
    assert where_the_prompt_is(page) == before
    shown.locator(".node-tools .node-neighbour").click()
    expect(shown.locator("h3")).to_contain_text("lookup_invoice")
    expect(shown.locator(".node-conversation")).to_have_count(0)  # a tool has none

    # Its lines are marked in the code only when asked.
    expect(page.locator("#code .node-marked")).to_have_count(0)
    shown.locator(".node-lines").click()
    marked = page.locator("#code .node-marked")
    expect(marked).to_have_count(4)  # the decorator and the function
    expect(marked.first).to_contain_text("@function_tool")
    assert page.evaluate("window.notReloaded") is True

    page.locator("#node-inspector-close").click()
    expect(inspector).to_be_hidden()
    assert "lookup_invoice" in focused_node_text(page)

    # "Open its conversation" goes to the agent's own conversation, as a click did before.
    triage.click()
    shown.locator(".node-conversation").click()
    expect(page.locator("#node-name")).to_have_text("Triage Agent")
    expect(page.locator("#node-session")).to_contain_text("Back to the whole workflow")
    assert no_sideways_scroll(page)
    violations = [line for line in page.console_lines if "Content Security Policy" in line]
    assert violations == [], violations
    page.context.close()


def test_the_node_list_of_an_undrawn_graph_opens_the_inspector(
    served: AppServer, chromium: Any
) -> None:
    from playwright.sync_api import expect

    page = open_project(chromium, served, PHONE, "Crowded")
    expect(page.locator("#graph-drawing")).to_have_count(0)
    link = page.locator("#graph-node-list a", has_text="agent Billing Agent")
    link.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    before = where_the_prompt_is(page)

    link.click()
    shown = page.locator("#node-inspector .node-details:visible")
    expect(shown.locator("h3")).to_contain_text("Billing Agent")
    expect(shown.locator(".node-tools .node-neighbour")).to_have_text(
        ["lookup_invoice", "WebSearchTool"]
    )
    expect(link).to_have_attribute("aria-current", "true")
    assert where_the_prompt_is(page) == before
    assert page.evaluate("window.notReloaded") is True
    assert no_sideways_scroll(page)

    page.locator("#node-inspector-close").click()
    expect(page.locator("#node-inspector")).to_be_hidden()
    expect(link).to_be_focused()
    page.context.close()
