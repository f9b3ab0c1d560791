"""Try it on the project page, in a real browser (Playwright + Chromium), against a real
server whose trials run in the real sandbox and call a local scripted model server.

A person types a question and runs it: while the Billing Agent answers, its node is the
active one on the graph; the transcript shows the handoff, the tool call with its
arguments and result, and the final answer with the agent that gave it; the handoff and
tool edges are numbered in the order taken; the trial is listed, and clicking it shows it
again after a reload.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projects.sample_workflow import SAMPLE_CODE
from tests.support import model_server as model
from tests.support.browser import CHROMIUM, chromium_browser
from tests.support.model_server import ModelServer
from tests.support.servers import AppServer, create_user_and_project

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("bubblewrap")]

WAIT_MS = 40_000  # a trial starts a sandbox, which takes seconds on a loaded machine
USER, PASSWORD = "tryer", "tryer-pass-61"
ANSWER = "Invoice INV-42 is paid: 49.00 USD."
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[AppServer, ModelServer]]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs the Debian package")
    models = ModelServer()
    models.start()
    server = AppServer(OPENAI_BASE_URL=models.base_url, OPENAI_API_KEY="test-key")
    try:
        server.manage("migrate", "--no-input", "-v0")
        create_user_and_project(server, USER, PASSWORD, "Triage", SAMPLE_CODE)
        server.start()
        yield server, models
    finally:
        server.stop()
        models.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with chromium_browser(WAIT_MS) as browser:
        yield browser


def test_a_handoff_is_traced_live_on_the_graph_and_in_the_transcript(
    served: tuple[AppServer, ModelServer], chromium: Any
) -> None:
    from playwright.sync_api import expect

    server, models = served
    models.script(
        model.function_call("transfer_to_billing_agent", {}),
        model.function_call("lookup_invoice", {"invoice_id": "INV-42"}),
        # Slow enough to see the Billing Agent at work.
        model.text(ANSWER, delay=2.0),
    )
    page = chromium.new_context(viewport={"width": 1440, "height": 900}).new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/login/")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.click("text=Triage")

    entry = page.locator("#trial-entry option").first
    expect(entry).to_have_text("Triage Agent (the graph's entry)")
    page.fill("#trial-input", "Is INV-42 paid?")
    page.get_by_role("button", name="Run", exact=True).click()

    graph = page.locator("#graph-drawing")
    active = graph.locator("g.node.trial-active")
    expect(active).to_have_count(1)
    expect(active).to_contain_text("Billing Agent")
    expect(page.locator("#trial-cancel")).to_be_visible()

    view = page.locator("#trial-view-head")
    expect(view.locator(".trial-status")).to_have_text("completed")
    transcript = view.locator(".trial-transcript")
    expect(transcript.locator(".trial-handoff")).to_contain_text(
        "Handoff Triage Agent → Billing Agent"
    )
    tool = transcript.locator(".trial-function")
    expect(tool).to_contain_text("lookup_invoice")
    expect(tool).to_contain_text('"invoice_id": "INV-42"')
    expect(tool).to_contain_text("Invoice INV-42: 49.00 USD, paid")
    expect(transcript.locator(".trial-response").last).to_contain_text(ANSWER)
    expect(view.locator(".trial-output")).to_have_text(ANSWER)
    expect(view.locator(".trial-last-agent")).to_have_text("from Billing Agent")
    expect(view.locator(".trial-usage")).to_contain_text("3 model requests · 54 tokens")
    expect(view.locator(".trial-path li")).to_have_text(
        ["Triage Agent → Billing Agent (handoff)", "Billing Agent → lookup_invoice (tool)"]
    )
    expect(page.locator("#trial-cancel")).to_be_hidden()

    # On the graph: no agent active any more; the path drawn, its edges numbered.
    expect(active).to_have_count(0)
    expect(graph.locator("g.node.trial-visited").filter(has_text="Billing Agent")).to_have_count(1)
    expect(graph.locator("g.node.trial-visited").filter(has_text="Technical")).to_have_count(0)
    taken = graph.locator("g.edge.trial-traversed")
    expect(taken).to_have_count(2)
    expect(graph.locator("g.edge.handoff.trial-traversed .trial-step")).to_have_text("1")
    expect(graph.locator("g.edge.tool.trial-traversed .trial-step")).to_have_text("2")
    if os.environ.get("VIBEGRAPHER_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator(".graph-beside > div").first.screenshot(path=str(SCREENSHOTS / "try-it.png"))

    # Saved as a behaviour case: its input and what it did, opened to edit.
    page.once("dialog", lambda dialog: dialog.accept("Paid invoices"))
    view.get_by_role("button", name="Save this as a case").click()
    expect(page.locator("#bc-form-title")).to_have_text("Edit Paid invoices")
    expect(page.locator("#bc-input")).to_have_value("Is INV-42 paid?")
    expect(page.locator("#bc-list")).to_contain_text("Paid invoices")

    # Listed; after a reload, clicking it replays it.
    page.reload()
    page.locator("#trial-history summary").click()
    page.locator("#trial-list .trial-load").first.click()
    expect(view.locator(".trial-output")).to_have_text(ANSWER)
    expect(view.locator(".trial-transcript .trial-handoff")).to_have_count(1)
    expect(page.locator("#trial-input")).to_have_value("Is INV-42 paid?")
    expect(graph.locator("g.edge.trial-traversed")).to_have_count(2)
    assert errors == []
    page.context.close()
