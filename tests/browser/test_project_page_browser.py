"""The project page as a newcomer meets it, in a real browser (Playwright + Chromium).

It opens on the newest message with the prompt in view, on a wide screen and on a
phone, and follows the new round after a rejection; a patch refused by a quick test is
a step of its round that a reload still shows; the Tests section lists the quick tests
that gate every patch and adds one. One server for the module: the tests build on one
conversation, as a person's afternoon would.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents_app.patching import unified_diff
from tests.support.browser import CHROMIUM, chromium_browser
from tests.support.model_server import ModelServer, RecordedRequest, Step, custom_tool_call, text
from tests.support.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.browser

CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'
DROPS_BOT = CODE.replace('name="Bot"', 'name="Gone"')
KIND = CODE.replace("Help.", "Help kindly.")
KINDER = CODE.replace("Help.", "Help kindly, always.")
QUICK_TEST = "Bot is there"
# Reads the file: no SDK start-up inside the quick tests' 5 s.
QUICK_TEST_CODE = (
    "source = open('workflow.py').read()\n"
    "assert 'name=\"Bot\"' in source, 'the agent Bot is gone'\n"
    "print('ok: Bot is there')\n"
)
WAIT_MS = 40_000  # runs spend seconds in the sandbox on a loaded machine
PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1440, "height": 900}

# Four earlier runs, each long enough that the conversation is thousands of pixels tall.
HISTORY = """
import json
from projects.models import Project, TestCase
from sessions_app.models import ConversationMessage
from sessions_app.services import get_or_create_session
project = Project.objects.get(name="Newcomer")
TestCase.objects.create(project=project, name={name!r}, test_code={code!r}, quick_test=True)
session = get_or_create_session(project, "global")[0]
for n in range(1, 5):
    ConversationMessage.objects.create(
        session=session, role="user", agent="user", content=f"Question {{n}}",
        run_outcome="text",
    )
    ConversationMessage.objects.create(
        session=session, role="assistant", agent="vibecoder",
        content="\\n".join(f"Answer {{n}}, line {{k}}" for k in range(40)),
    )
print(json.dumps(str(session.id)))
"""


def latest_person_text(request: RecordedRequest) -> str:
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
        return text("Done.")  # after its patch's review, or its refusal
    asked = latest_person_text(request)
    if "rejected it" in asked:
        patch = "Kinder\n" + unified_diff(CODE, KINDER, "workflow.py")
        return custom_tool_call("submit_patch", patch, stream_delay_s=0.02)
    if "be kind" in asked:
        return custom_tool_call("submit_patch", "Kind\n" + unified_diff(CODE, KIND, "workflow.py"))
    if "drop the bot" in asked:
        return custom_tool_call(
            "submit_patch", "Gone\n" + unified_diff(CODE, DROPS_BOT, "workflow.py")
        )
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
            server, username="newt", password="newt-password-77", project="Newcomer", code=CODE
        )
        server.python(HISTORY.format(name=QUICK_TEST, code=QUICK_TEST_CODE))
        server.start()
        yield server
    finally:
        server.stop()
        model.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with chromium_browser(WAIT_MS) as browser:
        yield browser


def open_project(chromium: Any, served: AppServer, viewport: dict[str, int]) -> Any:
    """A logged-in page on the project, at `viewport`."""
    context = chromium.new_context(viewport=viewport)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{served.url}/login/")
    page.fill("input[name=username]", "newt")
    page.fill("input[name=password]", "newt-password-77")
    page.click("button[type=submit]")
    page.click("text=Newcomer")
    return page


def no_sideways_scroll(page: Any) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] == widths[1], widths


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1440px", "390px"])
def test_the_page_opens_on_the_newest_message_with_the_prompt(
    served: AppServer, chromium: Any, viewport: dict[str, int]
) -> None:
    from playwright.sync_api import expect

    page = open_project(chromium, served, viewport)
    newest = page.locator("#messages > li").last
    expect(newest).to_contain_text("Answer 4, line 39")
    tall = page.evaluate("document.getElementById('messages').scrollHeight")
    assert tall > 2 * viewport["height"], tall  # far below the fold, were it not followed
    expect(newest).to_be_in_viewport()
    expect(page.locator("#prompt")).to_be_in_viewport()
    if viewport == PHONE:
        no_sideways_scroll(page)
    page.context.close()


def test_a_patch_refused_by_a_quick_test_is_a_step_a_reload_keeps(
    served: AppServer, chromium: Any
) -> None:
    from playwright.sync_api import expect

    page = open_project(chromium, served, WIDE)
    page.fill("#prompt", "drop the bot")
    page.press("#prompt", "Control+Enter")

    label = page.locator(".message.user .run-outcome-label").last
    expect(label).to_have_text("patch refused by tests")
    expect(page.locator("#run-outcome")).to_contain_text("Refused before review")
    step = page.locator(".message.check")
    expect(step).to_have_count(1)
    expect(step).to_be_in_viewport()

    page.reload()
    step = page.locator(".message.check")
    expect(step.locator(".meta")).to_contain_text("Checks · round 1")
    expect(step.locator(".content")).to_contain_text(
        f"breaks a quick test that passes on the current file: “{QUICK_TEST}”"
    )
    broken = step.locator(".refused-test")
    expect(broken).to_contain_text(f"{QUICK_TEST} before: passed → failed with the patch")
    output = broken.locator("details")
    expect(output).to_have_js_property("open", False)  # folded, like a CI log
    output.locator("summary").click()
    expect(output.locator("pre")).to_contain_text("AssertionError: the agent Bot is gone")
    expect(label).to_have_text("patch refused by tests")
    # In its place: after the refused patch, before the VibeCoder's reply to it.
    order = page.evaluate(
        "[...document.querySelectorAll('#messages > li')].slice(-4).map(li => li.className)"
    )
    assert order == [
        "message user",
        "message vibecoder",
        "message system check",
        "message vibecoder",
    ], order
    page.context.close()


def test_the_tests_section_names_the_gate_and_adds_a_test(served: AppServer, chromium: Any) -> None:
    from playwright.sync_api import expect

    page = open_project(chromium, served, WIDE)
    section = page.locator("#tests")
    expect(section.locator(".test-case")).to_have_count(1)
    expect(section.locator("#quick-gate")).to_contain_text("Quick tests gate every patch")
    expect(section.locator("#quick-gate strong")).to_have_text([QUICK_TEST])

    section.locator("#test-cases > summary").click()
    page.fill("#tc-name", "Says hello")
    page.locator("#tc-code-editor .cm-content").click()
    page.keyboard.type("print('hello')")
    page.check("#tc-quick")
    page.click("#tc-save")

    # Back at the section after the reload, the new test listed and named in the gate.
    expect(section.locator(".test-case")).to_have_count(2)
    expect(section.locator("#quick-gate strong")).to_have_text(["Bot is there", "Says hello"])
    expect(page.locator("#test-cases")).to_have_js_property("open", True)
    expect(page.locator("#test-cases")).to_be_in_viewport()
    page.click("#tc-run-head")
    expect(page.locator("#tc-head-state")).to_contain_text("2 of 2 passed")
    page.context.close()


def test_after_a_rejection_the_new_round_is_in_view_on_a_phone(
    served: AppServer, chromium: Any
) -> None:
    from playwright.sync_api import expect

    page = open_project(chromium, served, PHONE)
    project_url = page.url
    page.fill("#prompt", "be kind")
    page.click("#send")
    expect(page.locator("#pending")).to_be_visible()
    page.goto(served.url + (page.locator("#pending-link").get_attribute("href") or ""))
    page.fill("#feedback", "Kinder, please")
    page.click("#reject")
    page.wait_for_url(project_url)

    # The new round streams in at the bottom, and the page follows it.
    patch = page.locator(".message.vibecoder", has_text="Kinder")
    expect(patch).to_be_in_viewport()
    expect(page.locator(".message.user .run-outcome-label").last).to_have_text(
        "diff ready for review"
    )
    expect(page.locator("#messages > li").last).to_be_in_viewport()
    expect(page.locator("#prompt")).to_be_in_viewport()
    no_sideways_scroll(page)
    page.context.close()
