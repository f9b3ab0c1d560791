"""Behaviour cases in a real browser (Playwright + Debian's Chromium), no model needed.

The project page's panel adds a case (the errors beside the form first), lists it, and
makes one from a stored trial ("save this as a case"); the review page's behaviour table
leads with a regression stored in the database, shows the two answers side by side and
a transcript, and the checks box beside Approve names the regression first.
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import CHROMIUM, chromium_browser
from tests.support.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.browser

USER, PASSWORD = "casey", "casey-password-77"
CODE = (
    "from agents import Agent\n\n"
    'billing = Agent(name="Billing", instructions="Help with invoices.")\n'
    'triage = Agent(name="Triage", instructions="Send invoices to Billing.", handoffs=[billing])\n'
)
PATCHED = CODE.replace("handoffs=[billing]", "handoffs=[]")
REGRESSED = "Invoices go to Billing"
WAIT_MS = 20_000
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"

# A diff whose cases ran before and after: "Greets" passed on both sides (made first, so
# only the ordering puts the regression first); the invoice case passed on the base and
# fails on the patched code, its transcript stored as its trial's spans.
SEED = """
import json
from decimal import Decimal
from agents_app.patching.render import unified_diff
from cases.models import BehaviourCase, CaseResult
from projects.models import Project
from reviews.models import Diff
from sessions_app.services import get_or_create_session
from trials.models import Trial, TrialSpan
project = Project.objects.get(name="Cases")
session, _ = get_or_create_session(project, "global")
patched = {patched!r}
diff = Diff.objects.create(
    session=session, project=project, base_commit=project.current_commit,
    diff_content=unified_diff(project.current_code, patched, project.main_file),
    patched_code=patched, vibecoder_prompt="drop billing", evaluator_reasoning="Fine.",
    commit_message="feat: no billing", status="evaluator_approved",
)
greets = BehaviourCase.objects.create(project=project, name="Greets", input="Hi",
    expectations=[{{"kind": "output_contains", "text": "hello"}}])
invoices = BehaviourCase.objects.create(project=project, name={regressed!r},
    input="My invoice INV-7 is wrong.", rubric="Sends the person to Billing.", in_loop=True,
    expectations=[{{"kind": "last_agent", "agent": "Billing"}}])
def trial(side, last_agent, answer, spans):
    made = Trial.objects.create(project=project, user=project.owner, diff=diff, side=side,
        origin="case", input="My invoice INV-7 is wrong.", status="completed",
        final_output=answer, last_agent=last_agent, requests=len(spans))
    for n, (kind, name, data) in enumerate(spans):
        TrialSpan.objects.create(trial=made, span_id=f"s{{n}}", type=kind, name=name, data=data)
    return made
def said(text):
    return ("response", "gpt-test", {{"output": [{{"type": "message", "text": text}}]}})
before = trial("base", "Billing", "Billing here: INV-7 is being checked.", [
    ("agent", "Triage", {{}}), ("handoff", "Triage → Billing", {{}}), ("agent", "Billing", {{}}),
    said("Billing here: INV-7 is being checked."),
])
after = trial("patched", "Triage", "I cannot help with invoices.", [
    ("agent", "Triage", {{}}), said("I cannot help with invoices."),
])
def result(case, side, status, trial=None, answer="hello there", checks=(), judge=None, reason=""):
    return CaseResult.objects.create(case=case, project=project, diff=diff, side=side,
        commit=project.current_commit if side == "base" else "", case_version=case.version,
        trial=trial, status=status, final_output=answer, checks=list(checks),
        judge_passed=judge, judge_reason=reason, cost_usd=Decimal("0.001"))
result(greets, "base", "passed")
result(greets, "patched", "passed")
result(invoices, "base", "passed", before, before.final_output,
       [{{"kind": "last_agent", "expected": "ends with 'Billing'", "passed": True, "detail": ""}}],
       True, "Sends them to Billing.")
result(invoices, "patched", "failed", after, after.final_output,
       [{{"kind": "last_agent", "expected": "ends with 'Billing'", "passed": False,
         "detail": "ended with 'Triage'"}}], False, "Refuses instead of sending them to Billing.")
diff.behaviour_results = [
    {{"case_id": str(greets.id), "name": "Greets", "outcome": "unchanged-pass",
     "status": "passed", "base_status": "passed"}},
    {{"case_id": str(invoices.id), "name": {regressed!r}, "outcome": "regressed",
     "status": "failed", "base_status": "passed"}},
]
diff.save()
# The invoice case's last run on the current code.
CaseResult.objects.create(case=invoices, project=project, side="head",
    commit=project.current_commit, case_version=invoices.version, status="passed",
    final_output="Billing here: INV-7 is being checked.", judge_passed=True,
    judge_reason="Sends them to Billing.",
    checks=[{{"kind": "last_agent", "expected": "ends with 'Billing'", "passed": True,
             "detail": ""}}])
# A trial a person ran on HEAD, to save as a case.
saved = Trial.objects.create(project=project, user=project.owner, input="Where is INV-9?",
    status="completed", final_output="Billing: INV-9 is paid.", last_agent="Billing")
print(json.dumps({{"diff_id": str(diff.id), "trial_id": str(saved.id)}}))
"""


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[AppServer, dict[str, str]]]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs the Debian package")
    # No model: a case run is refused at once, and says so in its result (live, over the
    # project's WebSocket), which is what the runs below check.
    server = AppServer(OPENAI_API_KEY="", OPENAI_BASE_URL="", VIBEGRAPHER_IGNORE_DOTENV="1")
    try:
        server.manage("migrate", "--no-input", "-v0")
        made = create_user_and_project(
            server, username=USER, password=PASSWORD, project="Cases", code=CODE
        )
        made.update(server.python(SEED.format(patched=PATCHED, regressed=REGRESSED)))
        server.start()
        yield server, made
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with chromium_browser(WAIT_MS) as browser:
        yield browser


def no_sideways_scroll(page: Any) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] == widths[1], widths


def logged_in(chromium: Any, server: AppServer, asked: list[str] | None = None) -> Any:
    """A logged-in page that accepts every dialog (its question kept in `asked`)."""
    page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(WAIT_MS)

    def answer(dialog: Any) -> None:
        if asked is not None:
            asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.goto(f"{server.url}/login/")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    return page


def test_a_case_is_added_on_the_project_page_and_one_made_from_a_trial(
    served: tuple[AppServer, dict[str, str]], chromium: Any
) -> None:
    from playwright.sync_api import expect

    server, made = served
    page = logged_in(chromium, server)
    page.goto(f"{server.url}/projects/{made['project_id']}/")
    panel = page.locator("#behaviour-cases")
    expect(panel.locator(".bc-case")).to_have_count(2)  # the seeded ones
    expect(page.locator("#bc-count")).to_have_text("(2)")

    # Run on the current code: running, then its result comes over the socket.
    greets = panel.locator(".bc-case", has_text="Greets")
    greets.locator(".bc-run").click()
    expect(greets.locator(".bc-result")).to_have_text(re.compile(r"^error on [0-9a-f]{8}$"))
    expect(greets.locator(".bc-why .bc-error")).to_contain_text("Not run:")

    page.click("#bc-form-title")
    page.click("#bc-save")  # nothing filled in: the server's reasons beside the fields
    expect(page.locator("#bc-error-name")).not_to_be_empty()
    expect(page.locator("#bc-error-input")).not_to_be_empty()

    page.fill("#bc-name", "Tracking")
    page.fill("#bc-input", "Where is my parcel?")
    row = page.locator(".bc-expectation").first
    row.locator(".bc-kind").select_option("tool_called")
    row.locator(".bc-field-arguments").fill("parcel")
    page.click("#bc-save")  # the tool's name is missing: that row is named and marked
    expect(page.locator("#bc-error-expectations")).to_contain_text("expectation 1")
    expect(row).to_have_class(re.compile(r"\bbc-invalid\b"))
    row.locator(".bc-field-tool").fill("track_parcel")
    page.click("#bc-add-expectation")
    page.locator(".bc-expectation").nth(1).locator(".bc-field-text").fill("tracking link")
    page.fill("#bc-rubric", "gives a tracking link and promises no date")
    page.check("#bc-in-loop")
    page.click("#bc-save")

    added = panel.locator(".bc-case", has_text="Tracking")
    expect(added).to_be_visible()
    expect(added.locator(".bc-in-loop")).to_have_text("in the loop")
    expect(added.locator(".bc-result")).to_have_text("not run yet")
    expect(added.locator(".bc-expects")).to_contain_text('tool was called "track_parcel"')
    expect(page.locator("#bc-count")).to_have_text("(3)")

    # Stored: a reload lists it.
    page.reload()
    expect(panel.locator(".bc-case", has_text="Tracking")).to_be_visible()

    # "Save this as a case" (the Try it panel's button calls this): the new case opens
    # in the form, the trial's last agent and answer as its first expectations.
    saved = page.evaluate(
        "id => window.vibegrapherCases.saveTrialAsCase(id, 'Paid invoices')", made["trial_id"]
    )
    assert saved["input"] == "Where is INV-9?", saved
    expect(panel.locator(".bc-case", has_text="Paid invoices")).to_be_visible()
    expect(page.locator("#bc-form-title")).to_have_text("Edit Paid invoices")
    expect(page.locator(".bc-expectation .bc-field-agent")).to_have_value("Billing")
    expect(page.locator(".bc-expectation .bc-field-text")).to_have_value("Billing: INV-9 is paid.")
    if os.environ.get("VIBEGRAPHER_SCREENSHOTS"):  # refreshes the docs' picture (docs/images)
        panel.screenshot(path=str(SCREENSHOTS / "behaviour-cases.png"))
    page.set_viewport_size(PHONE)
    no_sideways_scroll(page)
    page.context.close()


def test_the_review_page_leads_with_the_behaviour_regression(
    served: tuple[AppServer, dict[str, str]], chromium: Any
) -> None:
    from playwright.sync_api import expect

    server, made = served
    asked: list[str] = []
    page = logged_in(chromium, server, asked)
    page.goto(f"{server.url}/diffs/{made['diff_id']}/")

    # The other test's cases (when it ran first) are listed too, not run.
    rows = page.locator("#behaviour-table tbody.bc-row")
    expect(rows.nth(1)).to_be_visible()
    first = rows.first
    expect(first).to_have_attribute("data-name", REGRESSED)
    expect(first.locator(".bc-outcome")).to_have_text("regressed")
    expect(first.locator(".bc-base")).to_have_text("passed")
    expect(first.locator(".bc-patched")).to_have_text("failed")
    expect(first.locator(".bc-main .bc-why")).to_contain_text(
        "Judge: fail. Refuses instead of sending them to Billing."
    )
    expect(first.locator(".bc-main .bc-why")).to_contain_text("ends with 'Billing'")
    expect(first.locator(".bc-main .bc-why")).to_contain_text("ended with 'Triage'")
    expect(rows.nth(1)).to_have_attribute("data-name", "Greets")
    expect(rows.nth(1).locator(".bc-outcome")).to_have_text("unchanged-pass")

    # The checks box beside Approve: behaviour first, the regression named.
    checks = page.locator("#checks")
    expect(checks.locator("#checks-behaviour")).to_have_text(
        re.compile(rf"^\d behaviour cases: 1 regressed \({REGRESSED}\), 1 passed\b")
    )
    assert page.evaluate("document.getElementById('checks').firstElementChild.id") == (
        "checks-behaviour"
    )
    expect(checks).to_have_class(re.compile(r"\bbehaviour-bad\b"))

    # The two answers side by side, and each side's transcript.
    first.locator(".bc-compare").click()
    detail = first.locator(".bc-detail")
    expect(detail).to_be_visible()
    sides = detail.locator(".bc-side-detail")
    expect(sides.nth(0).locator(".bc-output")).to_have_text("Billing here: INV-7 is being checked.")
    expect(sides.nth(1).locator(".bc-output")).to_have_text("I cannot help with invoices.")
    boxes = page.evaluate(
        "[...document.querySelectorAll('.bc-detail:not([hidden]) .bc-side-detail')]"
        ".map(box => box.getBoundingClientRect().left)"
    )
    assert boxes[0] < boxes[1], boxes  # side by side
    sides.nth(0).locator(".bc-transcript-button").click()
    transcript = sides.nth(0).locator(".bc-transcript")
    expect(transcript).to_contain_text("Triage → Billing")
    expect(transcript).to_contain_text("Billing here: INV-7 is being checked.")
    if os.environ.get("VIBEGRAPHER_SCREENSHOTS"):
        page.locator("#behaviour").screenshot(path=str(SCREENSHOTS / "behaviour-table.png"))
        page.locator("#review").screenshot(path=str(SCREENSHOTS / "behaviour-checks.png"))

    # Approve asks first about the regression (then approves: the tests have nothing to ask).
    page.click("#approve")
    expect(page.locator("#diff-status")).to_have_text("Human Approved")
    assert asked == [f"Behaviour regressed: {REGRESSED}. Approve anyway?"], asked

    # Run them again: each row runs, then takes its new result as it comes (no model
    # here, so each after side is an error that says why; the base results are reused).
    page.click("#run-behaviour")
    expect(page.locator("#behaviour-state")).to_have_text("run just now")
    invoices = page.locator(f'#behaviour-table tbody[data-name="{REGRESSED}"]')
    expect(invoices.locator(".bc-base")).to_have_text("passed")
    expect(invoices.locator(".bc-patched")).to_have_text("error")
    expect(invoices.locator(".bc-outcome")).to_have_text("error")
    expect(invoices.locator(".bc-main .bc-why")).to_contain_text("Not run:")
    expect(checks.locator("#checks-behaviour")).not_to_contain_text("regressed")
    expect(checks).not_to_have_class(re.compile(r"\bbehaviour-bad\b"))
    page.set_viewport_size(PHONE)
    first.locator(".bc-compare").scroll_into_view_if_needed()
    no_sideways_scroll(page)
    page.context.close()
