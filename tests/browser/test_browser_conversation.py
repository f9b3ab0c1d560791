"""The conversation while the agents work, in a real browser (Playwright + Chromium).

Live text appears before the response is complete and is replaced by the stored
message; Stop ends a run within a second and the page says it stopped.
"""

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents_app.patching import unified_diff
from tests.support.browser import CHROMIUM, launch_chromium
from tests.support.model_server import (
    ModelServer,
    RecordedRequest,
    Step,
    custom_tool_call,
    hang,
    text,
)
from tests.support.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'
ANSWER = " ".join(f"word{n}" for n in range(60))  # 16 characters per event: ~28 events


def answers(request: RecordedRequest) -> Step:
    if "You are the Evaluator" in request.instructions:
        verdict = {"approved": True, "reasoning": "Kind. " * 30, "commit_message": "feat: kind"}
        return text(json.dumps(verdict), stream_delay_s=0.1)
    if "stop me" in request.input_text():
        return hang()
    if "be kind" in request.input_text():
        new_code = CODE.replace("Help.", "Help kindly.")
        patch = "Kinder\n" + unified_diff(CODE, new_code, "workflow.py")
        return custom_tool_call("submit_patch", patch, stream_delay_s=0.1)
    return text(ANSWER, stream_delay_s=0.1)  # ~3 s to write


@pytest.fixture
def served() -> Iterator[AppServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs the Debian package")
    model = ModelServer()
    model.start()
    model.route(answers)
    server = AppServer(OPENAI_BASE_URL=model.base_url, OPENAI_API_KEY="browser-test")
    try:
        server.manage("migrate", "--no-input", "-v0")
        create_user_and_project(
            server, username="ada", password="ada-password-77", project="Live Bot", code=CODE
        )
        server.start()
        yield server
    finally:
        server.stop()
        model.stop()


def test_live_text_then_stop(served: AppServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        console: list[str] = []
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))

        page.goto(f"{served.url}/login/")
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "ada-password-77")
        page.click("button[type=submit]")
        page.click("text=Live Bot")
        expect(page.get_by_label("Your message to the agents")).to_be_visible()

        # Ctrl+Enter sends; while the run goes, Stop replaces Send and the status
        # line above the prompt says who is doing what.
        page.fill("#prompt", "Explain the bot")
        page.press("#prompt", "Control+Enter")
        expect(page.locator("#stop")).to_be_visible()
        expect(page.locator("#send")).to_be_hidden()
        expect(page.locator("#send-reason")).to_be_visible()
        live = page.locator(".message.vibecoder.live .content")
        expect(live).to_contain_text("word3")
        partial: Any = live.text_content()
        assert partial is not None and partial != ANSWER  # seen before the answer ended
        expect(page.locator("#status-text")).to_have_text("VibeCoder writing")
        expect(page.locator("#working")).to_be_in_viewport()
        # The stored message replaces the live text, under the same id.
        expect(page.locator(".message.vibecoder:not(.live) .content")).to_have_text(
            ANSWER, timeout=30_000
        )
        expect(page.locator(".message.vibecoder")).to_have_count(1)
        expect(page.locator("#send")).to_be_visible()
        expect(page.locator("#stop")).to_be_hidden()
        shown_id = page.locator(".message.vibecoder").get_attribute("data-id")
        page.reload()
        expect(page.locator(f".message.vibecoder[data-id='{shown_id}'] .content")).to_have_text(
            ANSWER
        )
        # A text answer is not a round (rounds count patches).
        expect(page.locator(f".message.vibecoder[data-id='{shown_id}'] .meta")).not_to_contain_text(
            "round"
        )

        # A patch: the status names the step and the round, then the Evaluator.
        page.fill("#prompt", "be kind")
        page.click("#send")
        expect(page.locator("#status-text")).to_have_text("VibeCoder writing a patch, round 1 of 3")
        expect(page.locator(".message.vibecoder.live .patch")).to_contain_text("@@")
        expect(page.locator("#status-text")).to_have_text("Evaluator reviewing, round 1 of 3")
        if os.environ.get("VIBEGRAPHER_SCREENSHOTS"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "project-running.png"))
        expect(page.locator("#pending")).to_be_visible()
        expect(page.locator("#pending")).to_be_in_viewport()
        expect(page.locator(".message.vibecoder").last.locator(".meta")).to_contain_text("round 1")

        # Stop ends a hanging run within a second, and the page says so. (The diff
        # above awaits review: the page asks before starting another run.)
        page.fill("#prompt", "stop me")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#send")
        expect(page.locator("#stop")).to_be_visible()
        expect(page.locator("#status-text")).to_have_text("VibeCoder thinking")
        clicked = time.monotonic()
        page.click("#stop")
        expect(page.locator("#run-outcome")).to_contain_text("stopped", timeout=1000)
        assert time.monotonic() - clicked < 1.0
        expect(page.locator("#send")).to_be_visible()
        expect(page.locator("#working")).to_be_hidden()

        # A phone: the page is as wide as the screen (no sideways scrolling).
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        expect(page.locator("#prompt")).to_be_visible()
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths == [390, 390], widths
        # The status sticks above the prompt the person is typing in. (The diff still
        # awaits review: sending asks first.)
        dialogs: list[str] = []

        def accept(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.accept()

        page.on("dialog", accept)
        page.fill("#prompt", "stop me, on the phone")
        page.press("#prompt", "Control+Enter")
        page.focus("#prompt")
        expect(page.locator("#working")).to_be_in_viewport()
        expect(page.locator("#stop")).to_be_in_viewport()
        if os.environ.get("VIBEGRAPHER_SCREENSHOTS"):  # refreshes the README's picture
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "project-phone-running.png"))
        # Escape stops it too, once the person confirms.
        page.keyboard.press("Escape")
        expect(page.locator("#run-outcome")).to_contain_text("stopped")
        assert dialogs[1:] == ["Stop the agents' run? What they wrote so far is kept."]
        assert dialogs[0].startswith("A diff awaits your review.")
        browser.close()
    violations = [line for line in console if "Content Security Policy" in line]
    assert violations == [], violations
