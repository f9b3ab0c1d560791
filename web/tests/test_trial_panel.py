"""The "Try it" panels' server side: the entry announced is the one a trial runs, the
choices are the graph's agents and workflow functions, and both pages carry the panel."""

import json
import re
from pathlib import Path

import pytest
from django.test import Client

from agents_app.patching.render import unified_diff
from projects.sample_workflow import SAMPLE_CODE
from projects.services import create_project
from reviews.models import Diff
from sessions_app.services import get_or_create_session
from web.trial_panel import trial_panel

pytestmark = pytest.mark.django_db

EXPORT = (
    Path(__file__).resolve().parents[2]
    / "projects/tests/graph/fixtures/agent_builder_mcp_approval.py"
).read_text()


def config_of(page: str) -> dict[str, object]:
    found = re.search(r'<script id="vg-config" type="application/json">(.*?)</script>', page)
    assert found is not None
    config: dict[str, object] = json.loads(found.group(1))
    return config


def test_the_entry_is_the_graphs_and_the_agents_can_be_picked() -> None:
    panel = trial_panel(SAMPLE_CODE, "workflow.py")

    assert panel.entry == "Triage Agent"
    assert panel.choices == ["Billing Agent", "Technical Support Agent", "Triage Agent"]
    assert ["agent:Billing Agent", "Billing Agent", "agent"] in panel.nodes
    assert ["tool:lookup_invoice", "lookup_invoice", "tool"] in panel.nodes
    assert panel.problem == ""


def test_an_agent_builder_export_runs_its_workflow_function() -> None:
    panel = trial_panel(EXPORT, "workflow.py")

    assert panel.entry == "run_workflow()"
    assert panel.choices == ["Analyst", "Mailer", "run_workflow()"]


def test_nothing_to_run_says_so_and_code_that_does_not_parse_offers_nothing() -> None:
    empty = trial_panel("x = 1\n", "workflow.py")
    assert empty.entry == "" and empty.choices == []
    assert "No agent to run was found in workflow.py" in empty.problem

    broken = trial_panel("def (:\n", "workflow.py")
    assert (broken.entry, broken.choices, broken.nodes) == ("", [], [])


def test_the_project_page_and_the_review_page_carry_the_panel(user) -> None:
    browser = Client()
    browser.force_login(user)
    project = create_project(user, "Triage", SAMPLE_CODE)

    page = browser.get(f"/projects/{project.id}/").content.decode()

    assert 'id="try-it"' in page and "trials.js" in page
    assert '<option value="">Triage Agent (the graph\'s entry)</option>' in page.replace(
        "&#x27;", "'"
    )
    assert '<option value="Billing Agent">Billing Agent</option>' in page
    assert 'id="trial-view-head"' in page and 'aria-live="polite"' in page
    trial = config_of(page)["trial"]
    assert isinstance(trial, dict) and trial["entry"] == "Triage Agent"

    patched = SAMPLE_CODE.replace('name="Billing Agent"', 'name="Invoices"')
    diff = Diff.objects.create(
        session=get_or_create_session(project, "global")[0],
        project=project,
        base_commit=project.current_commit,
        diff_content=unified_diff(SAMPLE_CODE, patched, "workflow.py"),
        patched_code=patched,
    )
    review = browser.get(f"/diffs/{diff.id}/").content.decode()

    assert 'id="trial-view-base"' in review and 'id="trial-view-patched"' in review
    assert ">Run both</button>" in review
    # The choices are the patched code's agents.
    assert '<option value="Invoices">Invoices</option>' in review
    assert "Billing Agent</option>" not in review
