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
from tests.support.browser import CHROMIUM, chromium_browser
from tests.support.model_server import (
    ModelServer,
    RecordedRequest,
    Step,
    custom_tool_call,
    error,
    text,
)
from tests.support.servers import AppServer, create_user_and_project

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
    if "fail one" in asked:
        return error(400, "The first failure")
    if "fail two" in asked:
        return error(400, "The second failure")
    if "rejected it" in asked:
        return text("Understood.")
    if "be kind" in asked:
        patch = "Kind\n" + unified_diff(CODE, KIND, "workflow.py")
        return custom_tool_call("submit_patch", patch, stream_delay_s=0.3)
    return text("The bot helps.")


@pytest.fixture(scope="module")
def served() -> Iterator[AppServer]:
    from testruns.sandbox import SandboxUnavailable, check_sandbox

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
    with chromium_browser(WAIT_MS) as browser:
        yield browser


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


def test_an_empty_conversation_offers_example_prompts(served: AppServer, chromium: Any) -> None:
    from playwright.sync_api import expect

    page = log_in(chromium, served, PHONE)
    # The list's links are in the site's colour, not the browser's default blue.
    link = page.locator(".projects a", has_text="Polish")
    assert link.evaluate("el => getComputedStyle(el).color") not in (
        "rgb(0, 0, 238)",
        "rgb(85, 26, 139)",
    )
    delete = page.locator(".projects button.danger")
    expect(delete).to_be_hidden()  # folded under "More"
    link.click()
    examples = page.locator("#example-prompts .example-prompt")
    expect(examples).to_have_count(3)
    examples.first.click()
    expect(page.locator("#prompt")).to_have_value("What does this workflow do?")
    expect(page.locator("#prompt")).to_be_focused()
    page.context.close()


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
    expect(page.locator("#example-prompts")).to_be_hidden()
    expect(page.locator("#project-usage-total")).to_have_text(conversation.inner_text())
    page.context.close()


REVIEW = """async ([diffId, feedback]) => {
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const response = await fetch(`/api/diffs/${diffId}/review`, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
    body: JSON.stringify({approved: false, feedback}),
  });
  return response.status;
}"""


def test_each_run_keeps_its_error_and_its_separator_follows_its_diff(
    served: AppServer, chromium: Any
) -> None:
    from playwright.sync_api import expect

    page = open_project(chromium, served, WIDE)
    page.on("dialog", lambda dialog: dialog.accept())  # the diff above awaits review
    labels = page.locator(".message.user:not(.event) .run-outcome-label")
    diff_run = labels.nth(0)
    expect(diff_run).to_have_text("diff ready for review")
    for prompt in ("fail one", "fail two"):
        before = labels.count()
        page.fill("#prompt", prompt)
        page.click("#send")
        expect(labels).to_have_count(before + 1)
        expect(labels.last).to_have_text("failed")
        expect(page.locator("#send")).to_be_visible()
    runs = page.locator(".message.user:not(.event)")
    count = runs.count()
    first_failed, second_failed = runs.nth(count - 2), runs.nth(count - 1)
    expect(second_failed.locator(".run-error")).to_contain_text("The second failure")
    expect(first_failed.locator(".run-error")).to_contain_text("The first failure")

    # Rejected (in another window, say): the diff's run says so at once.
    diff_id = diff_run.get_attribute("data-diff-id")
    assert diff_id
    assert page.evaluate(REVIEW, [diff_id, "Not kind enough"]) == 200
    expect(diff_run).to_have_text("diff rejected")
    expect(page.locator("#pending")).to_be_hidden()
    expect(labels.last).to_have_text("answered")

    page.reload()
    expect(labels.nth(0)).to_have_text("diff rejected")
    expect(first_failed.locator(".run-error")).to_contain_text("The first failure")
    expect(second_failed.locator(".run-error")).to_contain_text("The second failure")
    page.context.close()
