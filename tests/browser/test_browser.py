"""The whole job in a real browser: Playwright driving Debian's Chromium, headless.

A real daphne serves the app; the local model server answers for the agents. The
person logs in, asks for a change, watches the agents' messages arrive without a
reload, rejects the first diff with feedback, approves the second and commits it.
"""

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents_app.patching import unified_diff
from tests.support.browser import CHROMIUM, launch_chromium
from tests.support.model_server import ModelServer, RecordedRequest, Step, custom_tool_call, text
from tests.support.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'
ROUNDS = ["Help kindly.", "Help warmly."]
AGENT_TEST = (
    "import ast\n"
    "tree = ast.parse(open('workflow.py').read())\n"
    "calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]\n"
    "assert any(getattr(c.func, 'id', '') == 'Agent' for c in calls), 'no Agent left'\n"
    "print('ok: the file still defines an Agent')\n"
)


def scripted_agents() -> Callable[[RecordedRequest], Step]:
    """Round n of the VibeCoder proposes ROUNDS[n]; the Evaluator approves each."""
    vibecoder_calls = 0

    def answer(request: RecordedRequest) -> Step:
        nonlocal vibecoder_calls
        if "You are the Evaluator" in request.instructions:
            return text(json.dumps({"approved": True, "reasoning": "Does what was asked.",
                                    "commit_message": "feat: friendlier bot"}))  # fmt: skip
        new_code = CODE.replace("Help.", ROUNDS[min(vibecoder_calls, len(ROUNDS) - 1)])
        vibecoder_calls += 1
        patch = unified_diff(CODE, new_code, "workflow.py")
        return custom_tool_call("submit_patch", "Friendlier instructions\n" + patch)

    return answer


@pytest.fixture
def served() -> Iterator[tuple[AppServer, dict[str, str]]]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs the Debian package")
    model = ModelServer()
    model.start()
    model.route(scripted_agents())
    server = AppServer(OPENAI_BASE_URL=model.base_url, OPENAI_API_KEY="browser-test")
    try:
        server.manage("migrate", "--no-input", "-v0")
        made = create_user_and_project(
            server, username="ada", password="ada-password-77", project="Browser Bot", code=CODE
        )
        server.start()
        added = httpx.post(
            f"{server.url}/api/projects/{made['project_id']}/tests",
            json={"name": "Defines an agent", "test_code": AGENT_TEST, "quick_test": True},
            headers={"Authorization": f"Token {made['token']}"},
        )
        assert added.status_code == 201, added.text
        yield server, made
    finally:
        server.stop()
        model.stop()


def test_chat_review_reject_approve_commit(served) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, _ = served
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        # Chromium reports each Content-Security-Policy violation on the console.
        console: list[str] = []
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        dialogs: list[str] = []

        def dismiss(dialog: Any) -> None:
            dialogs.append(dialog.message)
            # Approving a diff whose tests have not run asks first: yes, here.
            if "Approve anyway?" in dialog.message:
                dialog.accept()
            else:
                dialog.dismiss()

        page.on("dialog", dismiss)

        page.goto(f"{server.url}/login/")
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "ada-password-77")
        page.click("button[type=submit]")
        # Deleting asks first (a static script, not an inline handler); "no" keeps it.
        page.click("li:has-text('Browser Bot') .project-more summary")
        page.click("li:has-text('Browser Bot') button.danger")
        expect(page.locator("text=Browser Bot")).to_be_visible()
        assert dialogs == ["Delete Browser Bot and its repository?"]
        page.click("text=Browser Bot")
        expect(page.locator("h1")).to_contain_text("Browser Bot")

        page.fill("#prompt", "Make the bot friendlier")
        page.click("#prompt-form button[type=submit]")
        # The agents' messages arrive over the WebSocket, without a reload.
        expect(page.locator(".message.user")).to_contain_text("Make the bot friendlier")
        expect(page.locator(".message.vibecoder")).to_contain_text("Friendlier instructions")
        expect(page.locator(".message.evaluator")).to_contain_text("Approved")
        # Tokens and cost add up live: the run's beside the request, the session's.
        expect(page.locator("#token-total")).to_have_text("36 tokens · $0.0001")
        expect(page.locator(".message.user .run-usage")).to_have_text(
            "this run: 36 tokens · $0.0001"
        )
        page.click("#pending-link")

        expect(page.locator("#diff")).to_contain_text("Help kindly.")
        expect(page.locator("#commit-message")).to_have_value("feat: friendlier bot")
        # The project's test runs in the sandbox; its result arrives live.
        page.click("#run-tests")
        expect(page.locator("#tests-state")).to_have_text("run just now")
        expect(page.locator("#test-results .status-passed")).to_have_text("passed")
        page.fill("#feedback", "Warmer, please")
        if os.environ.get("VIBEGRAPHER_SCREENSHOTS"):  # refreshes the README's picture
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "review.png"), full_page=True)
        page.click("#reject")

        # A new round starts with the feedback; its diff reopens for review.
        expect(page.locator(".message.user").last).to_contain_text("Warmer, please")
        expect(page.locator(".message.evaluator")).to_have_count(2)
        expect(page.locator("#pending")).to_be_visible()
        page.click("#pending-link")
        expect(page.locator("#diff")).to_contain_text("Help warmly.")
        # The quick test ran in the loop on this patch: nothing is left unrun, so
        # approving asks nothing.
        expect(page.locator("#checks-summary")).to_have_text("1 test: 1 passed")
        asked = len(dialogs)
        page.click("#approve")
        expect(page.locator("#diff-status")).to_contain_text("Human Approved")
        assert len(dialogs) == asked
        page.fill("#commit-message", "feat: warmer bot")
        page.click("#commit")

        expect(page.locator("#code")).to_contain_text("Help warmly.")
        expect(page.locator("#commits li").first).to_contain_text("feat: warmer bot")
        # The commit's trailers, read back from git, and its links.
        # The change took two runs (one rejected): the trailers cover both.
        expect(page.locator("#commits li .trailers").first).to_contain_text(
            "Evaluator approved in round 1 of 3 of run 2 (after 1 rejected diff)"
            " · gpt-5 (VibeCoder), gpt-5-mini (Evaluator) · tokens: "
        )
        expect(page.locator("#commits li .trailers").first).to_contain_text(" over 2 runs")
        page.locator("#commits li").first.locator("text=request").click()
        expect(page).to_have_url(re.compile(r"#message-"))
        browser.close()
    violations = [line for line in console if "Content Security Policy" in line]
    assert violations == [], violations
