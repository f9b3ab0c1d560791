"""The conversation as a story, in a real browser (Playwright + Chromium).

Each run's separator says how the run ended; the person's own review actions
(approved, rejected with feedback, committed as `abc1234`) appear in the conversation
as they happen, in every open window, and both survive a reload. The status line
stays in view while the person types, and the review page fits a phone.
"""

import json
import re
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

CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'
KIND = CODE.replace("Help.", "Help kindly.")
KINDER = CODE.replace("Help.", "Help kindly, always.")
SUMMARY = "Thinking about kindness: the instructions are the one place to change."


def latest_person_text(request: RecordedRequest) -> str:
    """The newest user item of the request: what this turn answers."""
    items = request.body.get("input", [])
    if isinstance(items, str):
        return items
    for item in reversed(items):
        if item.get("role") == "user":
            content = item.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def answers(request: RecordedRequest) -> Step:
    if "You are the Evaluator" in request.instructions:
        verdict = {"approved": True, "reasoning": "Kind.", "commit_message": "feat: kind"}
        return text(json.dumps(verdict))
    items = request.body.get("input", [])
    if isinstance(items, list) and items and items[-1].get("type", "").endswith("_output"):
        return text("Done.")  # after its patch's review
    asked = latest_person_text(request)
    if "stop me" in asked:
        return hang()
    if "rejected it" in asked:
        return custom_tool_call(
            "submit_patch", "Kinder\n" + unified_diff(CODE, KINDER, "workflow.py")
        )
    if "be kind" in asked:
        patch = "Kind\n" + unified_diff(CODE, KIND, "workflow.py")
        return custom_tool_call("submit_patch", patch, reasoning=SUMMARY, stream_delay_s=0.05)
    return text("The bot helps.", reasoning=SUMMARY, stream_delay_s=0.05)


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
            server, username="ada", password="ada-password-77", project="Story Bot", code=CODE
        )
        server.start()
        yield server
    finally:
        server.stop()
        model.stop()


def kinds(page: Any) -> list[str]:
    """The conversation's items, in page order: 'event' or the agent."""
    return list(
        page.evaluate(
            "[...document.querySelectorAll('#messages > li')].map(li =>"
            " li.classList.contains('event') ? 'event' : li.className.split(' ')[1])"
        )
    )


def run_labels(page: Any) -> list[str]:
    return [
        t.strip() for t in page.locator(".message.user:not(.event) .run-head").all_text_contents()
    ]


def test_run_outcomes_and_review_actions_survive_a_reload(served: AppServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a loaded machine: runs take seconds
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(20_000)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(f"{served.url}/login/")
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "ada-password-77")
        page.click("button[type=submit]")
        page.click("text=Story Bot")
        project_url = page.url

        # A text answer: its reasoning summary is shown muted and folded, no round badge.
        page.fill("#prompt", "Explain the bot")
        page.press("#prompt", "Control+Enter")
        # The status line is in view while the person is at the prompt (1400 px).
        expect(page.locator("#prompt")).to_be_focused()
        expect(page.locator("#working")).to_be_in_viewport()
        expect(page.locator(".message.vibecoder.live details.reasoning")).to_contain_text(
            "Thinking about kindness"
        )
        expect(page.locator(".message.user .run-outcome-label").last).to_have_text("answered")
        answer = page.locator(".message.vibecoder").last
        expect(answer.locator(".content").last).to_have_text("The bot helps.")
        expect(answer.locator("details.reasoning")).to_have_js_property("open", False)
        expect(answer.locator("details.reasoning pre")).to_have_text(SUMMARY, use_inner_text=False)
        expect(answer.locator(".meta")).not_to_contain_text("round")

        # A patch: the run ends with a diff, which the person rejects with feedback.
        page.fill("#prompt", "be kind")
        page.click("#send")
        expect(page.locator("#pending")).to_be_visible()
        expect(page.locator(".message.user .run-outcome-label").last).to_have_text(
            "diff ready for review"
        )
        review = context.new_page()
        review.goto(served.url + (page.locator("#pending-link").get_attribute("href") or ""))
        review.fill("#feedback", "Kinder, please")
        review.click("#reject")
        review.wait_for_url(project_url)
        review.close()
        # The project page, open all along, shows the rejection before the run it started.
        rejected = page.locator(".message.event", has_text="Rejected the diff")
        expect(rejected).to_contain_text("“feat: kind”")
        expect(page.locator(".message.user .run-outcome-label").last).to_have_text(
            "diff ready for review"
        )
        feedback = page.locator(".message.user:not(.event)").last
        expect(feedback.locator(".content")).to_have_text("Kinder, please")
        order = kinds(page)
        assert order[-4:-2] == ["event", "user"], order
        # Rounds count per run: the second run's patch is round 1 again.
        expect(page.locator(".message.vibecoder").last.locator(".meta")).to_contain_text("round 1")

        # Approve and commit the second diff in another window.
        review = context.new_page()
        diff_url = served.url + (page.locator("#pending-link").get_attribute("href") or "")
        review.goto(diff_url)
        review.click("#approve")
        expect(review.locator("#commit")).to_be_enabled()
        expect(page.locator(".message.event", has_text="Approved the diff")).to_be_visible()
        review.click("#commit")
        review.wait_for_url(project_url)
        # The commit reloads the project page: the committed event is stored.
        expect(page.locator("#commits li").first).to_contain_text("feat: kind")
        sha = (page.locator("#commits li code").first.text_content() or "").strip()
        assert re.fullmatch("[0-9a-f]{8}", sha), sha
        committed = page.locator(".message.event", has_text="Committed the diff")
        expect(committed).to_contain_text(f"as {sha[:7]}.")

        # A phone: the review page is as wide as the screen.
        review.set_viewport_size({"width": 390, "height": 844})
        review.goto(diff_url)
        expect(review.locator("#committed")).to_be_visible()
        widths = review.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths == [390, 390], widths
        review.close()

        # A stopped run says so in its separator.
        page.fill("#prompt", "stop me")
        page.click("#send")
        expect(page.locator(".message.user .run-outcome-label").last).to_have_text("running")
        page.click("#stop")
        expect(page.locator(".message.user .run-outcome-label").last).to_have_text("stopped")

        # Each diff's run says what became of it: rejected, committed.
        expected = [
            "Run · answered",
            "Run · diff rejected",
            "Run · diff committed",
            "Run · stopped",
        ]
        assert run_labels(page) == expected
        events = page.locator(".message.event .content").all_text_contents()
        shown = kinds(page)
        page.reload()
        assert run_labels(page) == expected
        assert page.locator(".message.event .content").all_text_contents() == events
        assert [e.split(" ")[0] for e in events] == ["Rejected", "Approved", "Committed"], events
        # Stored in the order they were shown live.
        assert kinds(page) == shown, (kinds(page), shown)
        expect(page.locator(".message.vibecoder details.reasoning").first).to_contain_text(
            "Thinking about kindness"
        )

        # The status line stays in view while the person types, on a phone too.
        page.set_viewport_size({"width": 390, "height": 844})
        page.fill("#prompt", "stop me on the phone")
        page.press("#prompt", "Control+Enter")
        expect(page.locator("#prompt")).to_be_focused()
        expect(page.locator("#working")).to_be_in_viewport()
        page.click("#stop")
        expect(page.locator(".message.user .run-outcome-label").last).to_have_text("stopped")
        browser.close()
    violations = [line for line in console if "Content Security Policy" in line]
    assert violations == [], violations
