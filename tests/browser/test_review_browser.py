"""The review page and the admin in a real browser (Playwright + Debian's Chromium).

One app server, one model server and one browser serve the whole module (launching
Chromium is the slow part); each test opens its own context, so cookies and storage
do not leak between tests. The tests run in file order and share the diff `served`
makes: nothing approves it before the two-window test does.
"""

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agents_app.patching import unified_diff
from tests.browser.test_browser import SCREENSHOTS
from tests.support.browser import launch_chromium
from tests.support.model_server import ModelServer, RecordedRequest, Step, custom_tool_call, text
from tests.support.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.browser

LINES = [f"# note {n}" for n in range(1, 21)]
CODE = "\n".join(
    ["from agents import Agent", "", *LINES, 'bot = Agent(name="Bot", instructions="Help.")']
    + [f"# tail {n}" for n in range(1, 9)]
) + "\n"  # fmt: skip
NEW_CODE = CODE.replace('"Help."', '"Help kindly."')
PASSING = "assert 'Agent' in open('workflow.py').read()\nprint('ok')\n"
FAILING = "assert 'Hello' in open('workflow.py').read(), 'no greeting'\n"
REFINED = "feat: kinder bot instructions"
DEMO_PASSWORD = "demo-password-42"


def scripted_agents() -> Callable[[RecordedRequest], Step]:
    def answer(request: RecordedRequest) -> Step:
        if "You write commit messages" in request.instructions:
            # Slow enough for the page to be seen waiting for it.
            return text(json.dumps({"approved": True, "reasoning": "Clearer.",
                                    "commit_message": REFINED}), delay=0.5)  # fmt: skip
        if "You are the Evaluator" in request.instructions:
            return text(json.dumps({"approved": True, "reasoning": "Does what was asked.",
                                    "commit_message": "feat: kinder bot"}))  # fmt: skip
        return custom_tool_call(
            "submit_patch", "Kinder instructions\n" + unified_diff(CODE, NEW_CODE, "workflow.py")
        )

    return answer


@dataclass
class Served:
    server: AppServer
    model: ModelServer
    browser: Any
    token: str
    project_id: str
    diff_id: str

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Token {self.token}"}
        return httpx.request(method, f"{self.server.url}/api{path}", headers=headers, **kw)

    def page(self, username: str = "ada", password: str = "ada-password-77") -> Any:
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.console = []
        page.on("console", lambda m: page.console.append(f"{m.type}: {m.text}"))
        page.goto(f"{self.server.url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.server.url}/")
        return page


def screenshot(page: Any, name: str) -> None:
    """Refreshes the README's pictures with VIBEGRAPHER_SCREENSHOTS=1."""
    if os.environ.get("VIBEGRAPHER_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def no_csp_violations(page: Any) -> None:
    violations = [line for line in page.console if "Content Security Policy" in line]
    assert violations == [], violations


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    from playwright.sync_api import sync_playwright

    model = ModelServer()
    model.start()
    model.route(scripted_agents())
    server = AppServer(
        OPENAI_BASE_URL=model.base_url, OPENAI_API_KEY="browser-test", DEMO_PASSWORD=DEMO_PASSWORD
    )
    try:
        server.manage("migrate", "--no-input", "-v0")
        server.manage("seed")  # DEBUG is on: `demo` is a superuser
        made = create_user_and_project(
            server, username="ada", password="ada-password-77", project="Review Bot", code=CODE
        )
        server.start()
        served = Served(server, model, None, made["token"], made["project_id"], "")
        for name, code in [("Imports", PASSING), ("Greets", FAILING)]:
            added = served.api("POST", f"/projects/{served.project_id}/tests",
                               json={"name": name, "test_code": code})  # fmt: skip
            assert added.status_code == 201, added.text
        session = served.api("POST", f"/projects/{served.project_id}/sessions", json={})
        session_id = session.json()["id"]
        sent = served.api("POST", f"/sessions/{session_id}/messages",
                          json={"prompt": "Make the bot kinder"})  # fmt: skip
        assert sent.status_code == 202, sent.text
        deadline = time.monotonic() + 30
        while not served.diff_id:
            assert time.monotonic() < deadline, "no diff"
            pending = served.api("GET", f"/sessions/{session_id}/diffs/pending").json()["results"]
            served.diff_id = pending[0]["id"] if pending else ""
            time.sleep(0.2)
        with sync_playwright() as playwright:
            served.browser = launch_chromium(playwright)
            yield served
            served.browser.close()
    finally:
        server.stop()
        model.stop()


def test_diff_shows_old_and_new_line_numbers_folds_and_split(served: Served) -> None:
    from playwright.sync_api import expect

    page = served.page()
    page.goto(f"{served.server.url}/diffs/{served.diff_id}/")
    unified = page.locator("table.diff-table.unified")
    removed = unified.locator("tr.line.del")
    added = unified.locator("tr.line.add")
    expect(removed).to_have_count(1)
    # The change is line 23 of both files: numbered on both sides, with its mark.
    expect(removed.locator("td.ln.old")).to_have_text("23")
    expect(removed.locator("td.ln.new")).to_have_text("")
    expect(removed.locator("td.sign")).to_have_text("-")
    expect(added.locator("td.ln.new")).to_have_text("23")
    expect(added.locator("td.sign")).to_have_text("+")
    expect(unified.locator("tr.hunk-header")).to_have_text("@@ -20,7 +20,7 @@")
    context_row = unified.locator("tbody.hunk tr.line.context").first
    expect(context_row.locator("td.ln.old")).to_have_text("20")
    expect(context_row.locator("td.ln.new")).to_have_text("20")
    # File headers are folded away; lines 1-19 wait behind "show more".
    expect(page.locator("#diff-view")).not_to_contain_text("diff --git")
    expect(unified.get_by_text("# note 1", exact=True)).to_be_hidden()
    unified.locator("button.expand").first.click()
    expect(unified.get_by_text("# note 1", exact=True)).to_be_visible()
    expect(unified.locator("tr.line.context td.ln.old").first).to_have_text("1")
    screenshot(page, "review-unified.png")

    # Split: old left, new right; the choice is remembered for this user.
    with page.expect_response("**/diff-layout"):
        page.click("#layout-split")
    split = page.locator("table.diff-table.split")
    expect(split).to_be_visible()
    expect(unified).to_be_hidden()
    changed = split.locator("tr.line", has=page.locator("td.code.del"))
    expect(changed.locator("td.ln.old")).to_have_text("23")
    expect(changed.locator("td.ln.new")).to_have_text("23")
    expect(changed.locator("td.code.add")).to_contain_text("Help kindly.")
    screenshot(page, "review-split.png")
    # In another browser too: the choice is the user's, kept on the server.
    elsewhere = served.page()
    elsewhere.goto(f"{served.server.url}/diffs/{served.diff_id}/")
    expect(elsewhere.locator("table.diff-table.split")).to_be_visible()
    expect(elsewhere.locator("#split-narrow")).to_be_hidden()
    # On a 390 px phone two columns would break every identifier: unified, and said so.
    elsewhere.set_viewport_size({"width": 390, "height": 844})
    expect(elsewhere.locator("table.diff-table.split")).to_be_hidden()
    expect(elsewhere.locator("table.diff-table.unified")).to_be_visible()
    expect(elsewhere.locator("#split-narrow")).to_have_text(
        "Split needs a wider screen: shown unified."
    )
    widths = elsewhere.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths == [390, 390], widths
    elsewhere.context.close()
    with page.expect_response("**/diff-layout"):
        page.click("#layout-unified")
    page.reload()
    expect(unified).to_be_visible()
    no_csp_violations(page)
    page.context.close()


def test_refine_never_overwrites_what_the_person_typed(served: Served) -> None:
    from playwright.sync_api import expect

    page = served.page()
    page.goto(f"{served.server.url}/diffs/{served.diff_id}/")
    page.fill("#commit-message", "fix: my own words")
    page.click("#refine")
    # Named as the conversation names it.
    expect(page.locator("#refine")).to_have_text("Commit message refiner writing…")
    expect(page.locator("#suggested-message")).to_have_text(REFINED)
    expect(page.locator("#refine")).to_have_text("Refine message")
    expect(page.locator("#commit-message")).to_have_value("fix: my own words")
    expect(page.locator("#refine")).to_be_enabled()
    page.click("#dismiss-suggestion")
    expect(page.locator("#suggestion")).to_be_hidden()
    expect(page.locator("#commit-message")).to_have_value("fix: my own words")
    page.click("#refine")
    page.click("#use-suggestion")
    expect(page.locator("#commit-message")).to_have_value(REFINED)
    no_csp_violations(page)
    page.context.close()


def type_code(page: Any, code: str) -> None:
    """Replace what the test-code editor (CodeMirror) holds, as a person would."""
    editor = page.locator("#tc-code-editor .cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    editor.fill(code)


def test_test_cases_are_added_edited_run_and_deleted_on_the_page(served: Served) -> None:
    from playwright.sync_api import expect

    page = served.page()
    page.goto(f"{served.server.url}/diffs/{served.diff_id}/")
    page.click("#test-cases > summary")
    page.fill("#tc-name", "Imports")
    # The code field is an editor that highlights Python as it is typed.
    expect(page.locator("#tc-code")).to_be_hidden()
    type_code(page, "print(1)\n")
    page.click("#tc-save")
    # The API's answer is shown beside the field it is about.
    expect(page.locator(".field-error[data-field=name]")).to_contain_text("Imports")
    page.fill("#tc-name", "Has a bot")
    type_code(page, "import ast\n(")
    page.click("#tc-save")
    expect(page.locator(".field-error[data-field=test_code]")).not_to_be_empty()
    type_code(page, "assert 'bot' in open('workflow.py').read()\n")
    colours = page.locator("#tc-code-editor .cm-line span").evaluate_all(
        "spans => spans.map(span => [span.textContent, getComputedStyle(span).color])"
    )
    plain = page.locator("#tc-code-editor .cm-line").first.evaluate(
        "line => getComputedStyle(line).color"
    )
    coloured = {text for text, colour in colours if colour != plain}
    assert {"assert", "'bot'", "'workflow.py'"} <= coloured, colours
    page.check("#tc-quick")
    with page.expect_navigation():  # the page reloads with the new list
        page.click("#tc-save")
    # Back at the list, open, after the reload.
    expect(page.locator("#test-cases")).to_have_js_property("open", True)
    item = page.locator(".test-case[data-name='Has a bot']")
    expect(item).to_contain_text("quick")
    expect(page.locator("#test-case-list .test-case")).to_have_count(3)

    item.locator(".tc-edit").click()
    expect(page.locator("#tc-name")).to_have_value("Has a bot")
    expect(page.locator("#tc-code-editor .cm-content")).to_have_text(
        "assert 'bot' in open('workflow.py').read()"
    )
    page.fill("#tc-name", "Defines bot")
    with page.expect_navigation():
        page.click("#tc-save")
    # Back at the list, open, after the reload.
    expect(page.locator("#test-cases")).to_have_js_property("open", True)
    expect(page.locator(".test-case[data-name='Defines bot']")).to_be_visible()

    page.click("#run-quick-tests")
    # Its status ("passed"; beside it the before/after outcome badge).
    result = page.locator("#test-results li[data-name='Defines bot']")
    expect(result.locator(".badge[class*='status-']")).to_have_text("passed")
    # The test case on its own, against the committed code (not the diff).
    defines = page.locator(".test-case[data-name='Defines bot']")
    defines.locator(".tc-run").click()
    expect(defines.locator(".tc-head-result .badge")).to_have_text("passed on current code")
    page.click("#tc-run-head")
    expect(page.locator("#tc-head-state")).to_contain_text("of 3 passed")
    expect(page.locator(".tc-head-result .badge")).to_have_count(3)

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.locator(".test-case[data-name='Defines bot'] .tc-delete").click()
    expect(page.locator("#test-cases")).to_have_js_property("open", True)
    expect(page.locator("#test-case-list .test-case")).to_have_count(2)
    names = served.api("GET", f"/projects/{served.project_id}/tests").json()["results"]
    assert sorted(t["name"] for t in names) == ["Greets", "Imports"]
    # The deleted test's result no longer counts among the checks.
    expect(page.locator("#checks-summary")).to_have_text("2 tests: 2 not run")
    no_csp_violations(page)
    page.context.close()


def test_checks_box_and_approve_in_one_window_updates_the_other(served: Served) -> None:
    from playwright.sync_api import expect

    first, second = served.page(), served.page()
    url = f"{served.server.url}/diffs/{served.diff_id}/"
    first.goto(url)
    second.goto(url)
    expect(first.locator("#checks-summary")).to_have_text("2 tests: 2 not run")
    first.click("#run-tests")
    expect(first.locator("#checks-summary")).to_have_text("2 tests: 1 passed, 1 failed")
    # The other window saw the results arrive too.
    expect(second.locator("#checks-summary")).to_have_text("2 tests: 1 passed, 1 failed")

    dialogs: list[str] = []

    def answer(accept: bool) -> Callable[[Any], None]:
        def handle(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return handle

    first.once("dialog", answer(False))
    first.click("#approve")
    assert dialogs == ["2 tests: 1 passed, 1 failed. Approve anyway?"]
    expect(first.locator("#diff-status")).to_have_text("Evaluator Approved")
    first.once("dialog", answer(True))
    first.click("#approve")
    expect(first.locator("#diff-status")).to_have_text("Human Approved")
    expect(first.locator("#elsewhere")).to_be_hidden()

    expect(second.locator("#diff-status")).to_have_text("Human Approved")
    expect(second.locator("#elsewhere")).to_have_text("Approved in another window.")
    expect(second.locator("#approve")).to_be_disabled()
    expect(second.locator("#commit")).to_be_enabled()
    expect(second.locator("#merge-reason")).to_have_text(
        "Approved: Commit applies the diff to the project."
    )

    second.fill("#commit-message", "feat: kinder bot, reviewed")
    second.click("#commit")
    second.wait_for_url(f"{served.server.url}/projects/{served.project_id}/")
    sha = served.api("GET", f"/diffs/{served.diff_id}").json()["committed_sha"]
    expect(first.locator("#elsewhere")).to_have_text("Committed in another window.")
    expect(first.locator("#committed-sha")).to_have_text(sha[:12])
    expect(first.locator("#run-tests")).to_be_disabled()
    # Read-only: no greyed actions, no empty feedback box.
    for action in ("#refine", "#approve", "#commit", "#reject", "#feedback", "#hint"):
        expect(first.locator(action)).to_be_hidden()
    expect(first.locator("#commit-message")).to_be_visible()
    # The history entry links back to the review.
    entry = second.locator(f"#commit-{sha}")
    expect(entry).to_contain_text("feat: kinder bot, reviewed")
    entry.locator("a", has_text="review").click()
    expect(second.locator("#committed")).to_contain_text(sha[:12])
    expect(second.locator("#committed")).to_contain_text("by ada")
    no_csp_violations(first)
    no_csp_violations(second)
    first.context.close()
    second.context.close()


def test_admin_as_demo_shows_a_response_with_its_request(served: Served) -> None:
    from playwright.sync_api import expect

    page = served.page("demo", DEMO_PASSWORD)
    page.goto(f"{served.server.url}/admin/sessions_app/conversationmessage/?agent=vibecoder")
    page.locator("#result_list tbody tr th a").first.click()
    request = page.locator(".field-request_readable pre.audit-json")
    expect(request).to_contain_text('"instructions": "You are the VibeCoder')
    expect(request).to_contain_text('"name": "submit_patch"')
    response = page.locator(".field-response_readable pre.audit-json")
    text_ = response.inner_text()
    assert '\n  "output": [' in text_
    tool_input = page.locator(".field-tool_inputs pre.audit-text")
    expect(tool_input).to_contain_text('+bot = Agent(name="Bot", instructions="Help kindly.")')
    expect(page.locator("input[name=_save]")).to_have_count(0)
    screenshot(page, "admin-response.png")
    no_csp_violations(page)
    page.context.close()
