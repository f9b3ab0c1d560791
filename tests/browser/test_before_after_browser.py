"""Before/after in a real browser: the loop's quick tests in the status line, and the
review page's checks box leading with a regression (Playwright + Debian's Chromium)."""

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agents_app.patching import unified_diff
from tests.support.browser import launch_chromium
from tests.support.model_server import ModelServer, RecordedRequest, Step, custom_tool_call, text
from tests.support.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.browser

CODE = 'from agents import Agent\n\nLIMIT = 10\nbot = Agent(name="Bot", instructions="Help.")\n'
PATCHED = CODE.replace("LIMIT = 10", "LIMIT = 5\nGREETING = 'hello'")
TESTS = [
    # Full tests: the loop leaves them to the person's "Run tests".
    ("Greets", "import workflow\nassert hasattr(workflow, 'GREETING'), 'no greeting'\n", False),
    ("Limit is ten", "import workflow\nassert workflow.LIMIT == 10, workflow.LIMIT\n", False),
    # The quick one runs in the loop; slow enough to be seen in the status line.
    (
        "Has a bot",
        "import time\ntime.sleep(1.5)\nassert 'bot = Agent(' in open('workflow.py').read()\n",
        True,
    ),
]
USER, PASSWORD = "grace", "grace-password-77"


def scripted_agents(request: RecordedRequest) -> Step:
    if "You are the Evaluator" in request.instructions:
        return text(json.dumps({"approved": True, "reasoning": "Fine.",
                                "commit_message": "feat: limit 5, greeting"}))  # fmt: skip
    return custom_tool_call(
        "submit_patch", "Lower the limit\n" + unified_diff(CODE, PATCHED, "workflow.py")
    )


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[AppServer, dict[str, str], Any]]:
    from playwright.sync_api import sync_playwright

    model = ModelServer()
    model.start()
    model.route(scripted_agents)
    server = AppServer(OPENAI_BASE_URL=model.base_url, OPENAI_API_KEY="browser-test")
    try:
        server.manage("migrate", "--no-input", "-v0")
        made = create_user_and_project(
            server, username=USER, password=PASSWORD, project="Limits", code=CODE
        )
        server.start()
        headers = {"Authorization": f"Token {made['token']}"}
        for name, code, quick in TESTS:
            added = httpx.post(
                f"{server.url}/api/projects/{made['project_id']}/tests",
                json={"name": name, "test_code": code, "quick_test": quick},
                headers=headers,
            )
            assert added.status_code == 201, added.text
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            yield server, made, browser
            browser.close()
    finally:
        server.stop()
        model.stop()


def test_quick_tests_in_the_status_line_then_the_checks_box_shows_a_regression_first(
    served: tuple[AppServer, dict[str, str], Any],
) -> None:
    from playwright.sync_api import expect

    # This machine may be busy: the sandboxed runs are what takes time here.
    expect.set_options(timeout=60_000)
    server, made, browser = served
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{server.url}/login/")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    page.goto(f"{server.url}/projects/{made['project_id']}/")

    page.fill("#prompt", "Lower the limit to 5 and greet")
    page.click("#send")
    # The loop runs the quick test on the patch before the Evaluator: it shows where
    # the person is looking.
    expect(page.locator("#status-text")).to_contain_text("Tests 1/1")
    link = page.locator("#pending-link")
    expect(link).to_be_visible()
    link.click()

    # The loop's quick result is the diff's first result; the full tests are not run.
    expect(page.locator("#checks-summary")).to_have_text("3 tests: 1 passed, 2 not run")
    page.click("#run-tests")
    summary = page.locator("#checks-summary")
    expect(summary).to_have_text("3 tests: 1 regressed, 1 fixed, 1 passed")
    first = page.locator("#test-results li").first
    expect(first).to_have_attribute("data-name", "Limit is ten")
    expect(first.locator(".outcome")).to_have_text("regressed")
    expect(first.locator(".before")).to_have_text("before: passed")
    expect(page.locator("#checks")).to_have_class(re.compile(r"\bchecks-bad\b"))

    # After a reload, the server renders the same order.
    page.reload()
    expect(summary).to_have_text("3 tests: 1 regressed, 1 fixed, 1 passed")
    expect(page.locator("#test-results li").first).to_have_attribute("data-name", "Limit is ten")
    page.context.close()
