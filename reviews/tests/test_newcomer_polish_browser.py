"""What a newcomer met on the project page, in a real browser (Playwright + Chromium).

A patch streams in monospace with its +/- lines coloured; a pending review stays on the
page while another run goes, and the person is told before that run starts. One server
for the module: the tests build on one conversation.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents_app.patching import unified_diff
from tests.browser import CHROMIUM, launch_chromium
from tests.model_server import ModelServer, RecordedRequest, Step, custom_tool_call, text
from tests.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.browser

CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'
KIND = CODE.replace("Help.", "Help kindly.")
WAIT_MS = 40_000
PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1440, "height": 900}
# Streamed as JSON with escapes (json.dumps writes é as \u00e9).
REASONING = 'Kind é "enough".'
VERDICT = {"approved": True, "reasoning": REASONING, "commit_message": "feat: kind"}


def answers(request: RecordedRequest) -> Step:
    if "You are the Evaluator" in request.instructions:
        return text(json.dumps(VERDICT), stream_delay_s=0.05)
    items = request.body.get("input", [])
    if isinstance(items, list) and items and items[-1].get("type", "").endswith("_output"):
        return text("Done.")
    asked = json.dumps(items[-1:]) if isinstance(items, list) else str(items)
    if "be kind" in asked:
        patch = "Kind\n" + unified_diff(CODE, KIND, "workflow.py")
        return custom_tool_call("submit_patch", patch, stream_delay_s=0.15)
    return text("The bot helps.")


@pytest.fixture(scope="module")
def served() -> Iterator[AppServer]:
    from reviews.sandbox import SandboxUnavailable, check_sandbox

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs the Debian package")
    try:
        check_sandbox()
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    model = ModelServer()
    model.start()
    model.route(answers)
    server = AppServer(OPENAI_BASE_URL=model.base_url, OPENAI_API_KEY="browser-test")
    try:
        server.manage("migrate", "--no-input", "-v0")
        create_user_and_project(
            server, username="newt", password="newt-password-77", project="Polish", code=CODE
        )
        server.start()
        yield server
    finally:
        server.stop()
        model.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


def log_in(chromium: Any, served: AppServer, viewport: dict[str, int]) -> Any:
    context = chromium.new_context(viewport=viewport)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{served.url}/login/")
    page.fill("input[name=username]", "newt")
    page.fill("input[name=password]", "newt-password-77")
    page.click("button[type=submit]")
    return page


def open_project(chromium: Any, served: AppServer, viewport: dict[str, int]) -> Any:
    page = log_in(chromium, served, viewport)
    page.click("text=Polish")
    return page


def test_a_pending_review_stays_and_is_named_before_another_run(
    served: AppServer, chromium: Any
) -> None:
    from playwright.sync_api import expect

    page = open_project(chromium, served, WIDE)
    page.fill("#prompt", "be kind")
    page.press("#prompt", "Control+Enter")
    # The patch is written live in monospace, its lines coloured by their +/- marks.
    live_added = page.locator(".message.live pre.patch .patch-line.add")
    expect(live_added.first).to_have_text(re.compile(r'^\+bot = Agent\(name="Bot", instruc'))
    looks = live_added.first.evaluate(
        "el => [getComputedStyle(el.parentElement).fontFamily, getComputedStyle(el).color]"
    )
    assert "monospace" in looks[0] and looks[1] == "rgb(17, 99, 41)", looks
    expect(page.locator(".message.live pre.patch .patch-line.del")).to_have_count(1)
    pending = page.locator("#pending")
    expect(pending).to_be_visible()
    expect(pending).to_contain_text("A diff awaits your review.")
    # The project's total follows the conversation's without a reload (one conversation).
    conversation = page.locator("#token-total")
    expect(conversation).not_to_have_text(re.compile(r"^0 tokens"))
    expect(page.locator("#project-usage-total")).to_have_text(conversation.inner_text())
    expect(page.locator("#send")).to_be_visible()

    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        # The first time the person thinks better of it; the second time they go on.
        if len(asked) == 1:
            dialog.dismiss()
        else:
            dialog.accept()

    page.on("dialog", answer)
    page.fill("#prompt", "What does the bot do?")
    page.click("#send")
    expect(page.locator("#prompt")).to_have_value("What does the bot do?")
    assert len(asked) == 1 and "A diff awaits your review" in asked[0]
    page.click("#send")
    expect(page.locator(".message.vibecoder .content").last).to_have_text("The bot helps.")
    expect(page.locator("#send")).to_be_visible()
    assert len(asked) == 2
    # Through the whole run and after it, the review is still one click away.
    expect(pending).to_be_visible()
    expect(page.locator("#pending-link")).to_have_text("Review the diff")
    expect(page.locator("#project-usage-total")).to_have_text(conversation.inner_text())
    page.context.close()
