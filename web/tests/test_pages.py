"""The server-rendered pages: login, project list, project page, review page."""

import pytest
from django.test import Client
from django.utils import timezone

from agents_app.patching import unified_diff
from projects.models import Project, TestCase
from projects.services import create_project
from reviews.models import Diff
from sessions_app.models import ConversationMessage
from sessions_app.services import get_or_create_session

pytestmark = pytest.mark.django_db

CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'


@pytest.fixture
def browser(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf(client: Client, url: str) -> str:
    client.get(url)
    return client.cookies["csrftoken"].value


def test_pages_need_a_login(client, user) -> None:
    project = create_project(user, "Private", CODE)
    for url in ("/", f"/projects/{project.id}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get("/login/").status_code == 200


def test_login_form(client, user) -> None:
    response = client.post("/login/", {"username": "alice", "password": "alice-password-123"})
    assert response.status_code == 302 and response["Location"] == "/"
    bad = client.post("/login/", {"username": "alice", "password": "nope"})
    assert "Wrong username or password" in bad.content.decode()


def test_create_and_delete_from_the_list(browser) -> None:
    token = csrf(browser, "/")
    assert browser.post("/", {"name": "From The Page"}).status_code == 403  # no CSRF token
    created = browser.post("/", {"name": "From The Page", "csrfmiddlewaretoken": token})
    project = Project.objects.get(name="From The Page")
    assert created["Location"] == f"/projects/{project.id}/"
    assert "From The Page" in browser.get("/").content.decode()

    deleted = browser.post(f"/projects/{project.id}/delete", {"csrfmiddlewaretoken": token})

    assert deleted.status_code == 302
    assert not Project.objects.filter(id=project.id).exists()


def test_project_page_shows_code_conversation_tokens_history(browser, user) -> None:
    project = create_project(user, "Shown", CODE)
    session = get_or_create_session(project, "global")[0]
    ConversationMessage.objects.create(session=session, role="user", agent="user", content="hi <b>")
    ConversationMessage.objects.create(
        session=session, role="assistant", agent="vibecoder", iteration=1, content="hello",
        token_usage={"total_tokens": 42}, patch_preview="+print('hello')",
    )  # fmt: skip

    page = browser.get(f"/projects/{project.id}/").content.decode()

    assert 'class="hl"' in page and "Agent" in page  # highlighted code
    assert "hi &lt;b&gt;" in page  # escaped
    assert "42 tokens" in page and "round 1" in page
    assert "Initial agent code" in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert '"sessionId"' in page


def test_project_page_tells_the_story_refinements_and_reasoning(browser, user) -> None:
    project = create_project(user, "Story", CODE)
    session = get_or_create_session(project, "global")[0]
    diff = Diff.objects.create(
        session=session, project=project, base_commit=project.current_commit,
        diff_content="", patched_code=CODE, commit_message="feat: kind",
    )  # fmt: skip
    ConversationMessage.objects.create(
        session=session, role="user", agent="user", content="be kind", run_outcome="diff"
    )
    diff.created_at = timezone.now()
    diff.status = Diff.Status.HUMAN_APPROVED
    diff.save()
    ConversationMessage.objects.create(
        session=session, role="assistant", agent="vibecoder", content="The bot helps.",
        openai_response={"output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Thinking <b>"}]},
        ]},
    )  # fmt: skip
    ConversationMessage.objects.create(
        session=session, role="assistant", agent="refiner", diff=diff,
        content="Suggested commit message: feat: kinder",
    )  # fmt: skip
    ConversationMessage.objects.create(
        session=session, role="event", agent="user", action="approved", diff=diff,
        content="Approved the diff “feat: kind”.",
    )  # fmt: skip
    ConversationMessage.objects.create(
        session=session, role="user", agent="user", content="wait", run_outcome="cancelled"
    )
    ConversationMessage.objects.create(
        session=session, role="user", agent="user", content="oops", run_outcome="failed",
        run_error="The model said no.",
    )  # fmt: skip
    ConversationMessage.objects.create(
        session=session, role="assistant", agent="vibecoder", content="Half an ans",
        stopped=True,
    )  # fmt: skip

    page = browser.get(f"/projects/{project.id}/").content.decode()

    assert page.count('class="run-head"') == 3  # one per run, none for the action
    assert ">stopped</span>" in page and ">Failed</span>" in page
    assert '<details class="reasoning"><summary>Reasoning</summary>' in page
    assert "Thinking &lt;b&gt;" in page
    assert "<strong>Commit message refiner</strong>" in page
    assert f'· <a href="/diffs/{diff.id}/">its diff</a>' in page
    assert 'class="message user event"' in page and "<strong>You</strong>" in page
    assert f'<a class="event-link" href="/diffs/{diff.id}/">Open the review</a>' in page
    # The run's diff was approved since: its separator says so, not "ready for review".
    assert f'class="run-outcome-label outcome-diff" data-diff-id="{diff.id}">diff approved<' in page
    assert '<p class="run-error">The model said no.</p>' in page
    # A stopped run's cut answer, kept and marked.
    assert page.count('class="message vibecoder stopped"') == 1
    assert 'class="badge stopped-badge"' in page and "Half an ans</pre>" in page


def test_project_page_shows_a_refused_patch_and_the_tests_that_gate_patches(browser, user) -> None:
    project = create_project(user, "Gated", CODE)
    session = get_or_create_session(project, "global")[0]
    TestCase.objects.create(project=project, name="Has a bot", test_code="pass", quick_test=True)
    TestCase.objects.create(project=project, name="Slow <one>", test_code="pass")
    ConversationMessage.objects.create(
        session=session, role="user", agent="user", content="drop the bot",
        run_outcome="refused_by_tests",
    )  # fmt: skip
    ConversationMessage.objects.create(
        session=session, role="check", agent="system", iteration=2,
        content="Refused before review: the patch breaks a quick test.",
        refusal={"reason": "tests", "detail": "…", "tests": [{
            "name": "Has a bot", "status": "failed", "limit": "", "base_status": "passed",
            "output": "AssertionError: <no bot>",
        }]},
    )  # fmt: skip

    page = browser.get(f"/projects/{project.id}/").content.decode()

    assert ">patch refused by tests</span>" in page
    assert 'class="message system check"' in page
    assert "<strong>Checks</strong> · round 2" in page
    assert '<li class="refused-test"><strong>Has a bot</strong>' in page
    assert "before: passed</span> → <span" in page and "AssertionError: &lt;no bot&gt;" in page
    # The Tests section: every test case, and the quick ones named as the gate.
    gate = page.split('id="quick-gate">', 1)[1].split("</p>", 1)[0]
    assert "gate every patch" in gate and "<strong>Has a bot</strong>" in gate
    assert "Slow" not in gate
    assert page.count('class="test-case"') == 2 and "Slow &lt;one&gt;" in page
    assert 'id="test-case-form"' in page and "test_cases.js" in page


def test_review_page_and_other_users(browser, other_user, user) -> None:
    project = create_project(user, "Reviewed", CODE)
    session = get_or_create_session(project, "global")[0]
    new = CODE.replace("Help.", "Help kindly.")
    diff = Diff.objects.create(
        session=session, project=project, base_commit=project.current_commit,
        diff_content=unified_diff(CODE, new, "workflow.py"), patched_code=new,
        evaluator_reasoning="Looks right.", commit_message="feat: kinder",
    )  # fmt: skip

    page = browser.get(f"/diffs/{diff.id}/").content.decode()

    assert "Looks right." in page and 'value="feat: kinder"' in page
    assert 'class="hl"' in page and "Help kindly." in page
    assert 'class="linenos"' in page
    stranger = Client()
    stranger.force_login(other_user)
    assert stranger.get(f"/diffs/{diff.id}/").status_code == 404
    assert stranger.get(f"/projects/{project.id}/").status_code == 404


def test_project_page_downloads_its_repository_and_staff_find_the_audit(browser, user) -> None:
    project = create_project(user, "Bundled", CODE)
    page = browser.get(f"/projects/{project.id}/").content.decode()
    link = f'<a id="download-repository" href="/api/projects/{project.id}/export" download>'
    assert link in page and "Download repository</a>" in page
    bundle = browser.get(f"/api/projects/{project.id}/export")  # the page's session suffices
    assert bundle.status_code == 200 and bundle.content.startswith(b"# v2 git bundle")
    assert 'id="audit-link"' not in page  # not staff: the admin would refuse them

    user.is_staff = user.is_superuser = True
    user.save()
    page = browser.get("/").content.decode()
    assert '<a id="audit-link" class="top-link" href="/admin/">Audit</a>' in page
    admin = browser.get("/admin/").content.decode()
    assert "<title>Stored model calls" in admin and "Vibegrapher audit" in admin
    assert "Django administration" not in admin


def test_project_list_marks_pending_reviews_and_folds_delete(browser, user) -> None:
    quiet = create_project(user, "Quiet", CODE)
    waiting = create_project(user, "Waiting", CODE)
    session = get_or_create_session(waiting, "global")[0]
    diff = Diff.objects.create(
        session=session, project=waiting, base_commit=waiting.current_commit,
        diff_content="", patched_code=CODE, commit_message="feat: x",
    )  # fmt: skip

    page = browser.get("/").content.decode()

    waiting_item = page.split(">Waiting</a>", 1)[1].split("</li>", 1)[0]
    quiet_item = page.split(">Quiet</a>", 1)[1].split("</li>", 1)[0]
    assert f'<a class="badge review-pending" href="/diffs/{diff.id}/">review pending</a>' in (
        waiting_item
    )
    assert "review pending" not in quiet_item
    # Deleting is folded under "More", outlined, and asks first.
    assert '<details class="project-more">' in quiet_item
    assert '<button type="submit" class="danger quiet">Delete project…</button>' in quiet_item
    assert 'data-confirm="Delete Quiet and its repository?"' in quiet_item
    assert 'rel="icon" href="/static/favicon.svg"' in page
    # Pages that name no icon (the admin's) ask for /favicon.ico: no 404.
    icon = browser.get("/favicon.ico")
    assert icon.status_code == 301 and icon["Location"] == "/static/favicon.svg"
    # An empty conversation offers example prompts; one with messages does not.
    empty = browser.get(f"/projects/{quiet.id}/").content.decode()
    assert '<div id="example-prompts" class="example-prompts" >' in empty
    ConversationMessage.objects.create(session=session, role="user", agent="user", content="hi")
    busy = browser.get(f"/projects/{waiting.id}/").content.decode()
    assert '<div id="example-prompts" class="example-prompts" hidden>' in busy
