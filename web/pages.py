"""The review UI: server-rendered pages; live updates come from the project WebSocket."""

import contextlib
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from projects.code import InvalidCode, python_text, read_python_file, validate_code
from projects.git import repository as git
from projects.git import trailers
from projects.graph.reader import build_graph
from projects.models import Project, TestCase
from projects.services import (
    InvalidName,
    check_project_name,
    create_project,
    delete_project,
    get_owned_project,
)
from reviews import checks, provenance, services
from reviews.models import Diff, ReviewPreference
from sessions_app import costs
from sessions_app.models import ConversationMessage, VibecodeSession
from sessions_app.services import UnknownNode, get_or_create_session
from vibegrapher.api.async_api import api_user
from vibegrapher.server.lanes import in_lane
from web import diff_view, graph_pages, highlight
from web.trial_panel import trial_panel


@login_required
@require_http_methods(["GET", "POST"])
def project_list(request: HttpRequest) -> HttpResponse:
    user = api_user(request)
    code = name = code_error = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        try:
            code = _submitted_code(request)
        except InvalidCode as exc:
            # The name and code stay in the form, the error beside the code to fix.
            code = request.POST.get("code", "")
            code_error = str(exc)
        else:
            try:
                check_project_name(name)
            except InvalidName as exc:
                messages.error(request, str(exc))
            else:
                project = create_project(user, name, code or None)
                _say_what_is_unresolved(request, project)
                return redirect("project-page", project_id=project.id)
    projects = list(user.projects.all())
    usage = costs.totals_by_project([p.id for p in projects])
    # Each project's newest diff awaiting review, if any (the list marks it).
    pending: dict[uuid.UUID, uuid.UUID] = {}
    for project_id, diff_id in Diff.objects.filter(
        project__in=projects, status__in=services.PENDING
    ).values_list("project_id", "id"):
        pending.setdefault(project_id, diff_id)
    return render(
        request,
        "web/project_list.html",
        {
            "projects": [(p, usage.get(p.id), pending.get(p.id)) for p in projects],
            "code": code,
            "name": name,
            "code_error": code_error,
        },
    )


def _submitted_code(request: HttpRequest) -> str:
    """The uploaded file's text, else the pasted code ("" for neither), read as Python
    reads a file (a BOM dropped, LF line endings: a browser sends a textarea's lines with
    CRLF) and checked like the API checks it. Raises InvalidCode naming the problem."""
    upload = request.FILES.get("file")
    if upload is not None and upload.size:
        if upload.size > settings.MAX_CODE_BYTES:
            raise InvalidCode(
                f"{upload.name} is {upload.size} bytes; the limit is {settings.MAX_CODE_BYTES} "
                "bytes (MAX_CODE_BYTES)."
            )
        what = f"The file {upload.name}"
        code = read_python_file(upload.read(), what)
        validate_code(code, what)
        return code
    code = python_text(request.POST.get("code", ""))
    if code.strip():
        validate_code(code, "The pasted code")
        return code
    return ""


def _say_what_is_unresolved(request: HttpRequest, project: Project) -> None:
    try:
        unresolved = build_graph(project.current_code).unresolved
    except ValueError:
        return
    if unresolved:
        names = ", ".join(f"{u.name} (line {u.line})" for u in unresolved)
        messages.warning(
            request,
            f"The graph has {len(unresolved)} name{pluralize(len(unresolved))} it could not "
            f"resolve (defined in another file, or built at run time): {names}.",
        )


@login_required
@require_POST
def project_delete(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    project = get_owned_project(api_user(request), project_id)
    delete_project(project)
    messages.success(request, f"Deleted {project.name}.")
    return redirect("project-list")


@in_lane("graph")  # the graph drawn by Graphviz (kept per code, but a first layout is slow)
@login_required
@require_GET
def project_page(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    project = get_owned_project(api_user(request), project_id)
    # ?focus=<graph node id>: its lines are highlighted; an agent's opens its conversation.
    # ?lines=<graph node id>: its lines only (the node inspector's link, without a script).
    focus = request.GET.get("focus", "")
    graph = graph_pages.project_graph(project, focus or request.GET.get("lines", ""))
    session = None
    if focus and graph.focused is not None and graph.focused.kind == "agent":
        try:
            session, _ = get_or_create_session(
                project, VibecodeSession.SessionType.NODE, graph.focused.label
            )
        except UnknownNode as exc:
            messages.error(request, str(exc))
    if session is None:
        session, _ = get_or_create_session(project, "global")
    history = list(session.messages.all())
    session_usage = costs.totals((m.token_usage, m.cost_usd, m.agent) for m in history)
    runs = {r.request_message_id: r for r in costs.runs_of(history) if r.request_message_id}
    pending = session.diffs.filter(status__in=services.PENDING).first()
    run_diffs = diffs_by_run(history, list(session.diffs.all()))
    tests, test_views = test_case_views(project)
    trial = trial_panel(project.current_code, project.main_file)
    config = {
        "projectId": str(project.id),
        "sessionId": str(session.id),
        "running": session.run_state == "running",
        "maxRounds": settings.VIBECODE_MAX_ROUNDS,
        "lastMessageId": str(history[-1].id) if history else None,
        "trial": trial.as_config(),
    }
    return render(
        request,
        "web/project.html",
        {
            "project": project,
            "session": session,
            "history": history,
            "session_usage": session_usage,
            "project_usage": costs.totals_of(
                ConversationMessage.objects.filter(session__project=project)
            ),
            "runs": runs,
            "run_diffs": run_diffs,
            "pending": pending,
            "code_html": graph_pages.code_html(project.current_code, graph.focused),
            "graph": graph,
            "commits": history_entries(project, git.history(project.slug, limit=20), session),
            "tests": tests,
            "test_views": test_views,
            "quick_tests": [test for test in tests if test.quick_test],
            "trial": trial,
            "config": config,
        },
    )


def test_case_views(project: Project) -> tuple[list[TestCase], list[tuple[TestCase, str]]]:
    """The project's test cases by name, each with its highlighted code
    (`web/_test_cases.html`, on the project and review pages)."""
    tests = list(project.test_cases.order_by("name"))
    return tests, [(test, highlight.python_html(test.test_code)) for test in tests]


# What a run's separator says once its diff was reviewed ("diff ready for review" before).
DIFF_RUN_LABELS: dict[str, str] = {
    Diff.Status.HUMAN_APPROVED: "diff approved",
    Diff.Status.HUMAN_REJECTED: "diff rejected",
    Diff.Status.COMMITTED: "diff committed",
}


@dataclass(frozen=True)
class RunDiff:
    """The diff a run produced, and what its separator says of it now ("" while it
    awaits review: the run's own outcome says so)."""

    id: uuid.UUID
    label: str


def diffs_by_run(history: list[ConversationMessage], diffs: list[Diff]) -> dict[uuid.UUID, RunDiff]:
    """Each diff by the person's message that started its run (as `requested_by`)."""
    requests = [m for m in history if m.role == ConversationMessage.Role.USER]
    by_run: dict[uuid.UUID, RunDiff] = {}
    for diff in diffs:
        started = [m for m in requests if m.created_at <= diff.created_at]
        if started:
            by_run[started[-1].id] = RunDiff(diff.id, DIFF_RUN_LABELS.get(diff.status, ""))
    return by_run


def requested_by(diff: Diff) -> ConversationMessage | None:
    """The person's own message that started the run which produced `diff`."""
    return (
        diff.session.messages.filter(role="user", created_at__lte=diff.created_at)
        .order_by("created_at")
        .last()
    )


@dataclass(frozen=True)
class Iterations:
    """Where a diff stands in its change: the rejected diffs before it (each one's
    feedback started the next run), the ones after, and what was first asked."""

    number: int
    previous: Diff | None
    following: list[Diff]
    # The person's message that started the change's first run.
    original_request: ConversationMessage | None
    original_prompt: str
    # From the previous iteration's patched file to this one's: what the feedback changed.
    since_previous: list[diff_view.Block] | None

    @property
    def shown(self) -> bool:
        return self.previous is not None or bool(self.following)


def iterations_of(diff: Diff, chain: list[Diff]) -> Iterations:
    """`chain`: `provenance.iterations(diff)`."""
    first = chain[0]
    previous = chain[-2] if len(chain) > 1 else None
    return Iterations(
        number=len(chain),
        previous=previous,
        following=list(diff.next_iterations.order_by("created_at")),
        original_request=requested_by(first),
        original_prompt=first.vibecoder_prompt,
        since_previous=(
            diff_view.blocks(previous.patched_code, diff.patched_code) if previous else None
        ),
    )


@dataclass(frozen=True)
class HistoryEntry:
    """A commit on the project page, linked to its review and its conversation turn."""

    commit: git.CommitInfo
    diff: Diff | None
    # The person's message that started the run which produced the diff.
    asked: ConversationMessage | None
    # Where that message is: an anchor on this page, or on the page of its session.
    turn_url: str
    # The commit's own account of itself (its trailers), for one line under it.
    trailers: dict[str, str]


def turn_url(diff: Diff, asked: ConversationMessage, shown: VibecodeSession | None) -> str:
    if shown is not None and diff.session_id == shown.id:
        return f"#message-{asked.id}"
    page = reverse("project-page", args=[diff.project_id])
    if diff.session.session_type == VibecodeSession.SessionType.NODE:
        page += "?" + urlencode({"focus": f"agent:{diff.session.node_id}"})
    return f"{page}#message-{asked.id}"


def history_entries(
    project: Project, commits: list[git.CommitInfo], shown: VibecodeSession | None = None
) -> list[HistoryEntry]:
    """Each commit with the reviewed diff it came from and the request behind that diff.

    The diff is the one the commit's `Vibegrapher-Diff` trailer names (git is the
    record), else the one that recorded the commit's sha.
    """
    named: dict[str, uuid.UUID] = {}
    for commit in commits:
        with contextlib.suppress(KeyError, ValueError):
            named[commit.sha] = uuid.UUID(trailers.as_dict(commit.trailers)[git.DIFF_TRAILER])
    found = project.diffs.filter(
        Q(committed_sha__in=[c.sha for c in commits]) | Q(id__in=named.values())
    ).select_related("session")
    by_id = {d.id: d for d in found}
    by_sha = {d.committed_sha: d for d in found if d.committed_sha}
    entries = []
    for commit in commits:
        diff = by_id.get(named[commit.sha]) if commit.sha in named else None
        diff = diff or by_sha.get(commit.sha)
        asked = requested_by(diff) if diff else None
        entries.append(
            HistoryEntry(
                commit=commit,
                diff=diff,
                asked=asked,
                turn_url=turn_url(diff, asked, shown) if diff and asked else "",
                trailers=trailers.as_dict(commit.trailers),
            )
        )
    return entries


@in_lane("graph")  # the graph change drawn by Graphviz
@login_required
@require_GET
def diff_page(request: HttpRequest, diff_id: uuid.UUID) -> HttpResponse:
    user = api_user(request)
    diff = get_object_or_404(services.owned_diffs(user), id=diff_id)
    tests, test_views = test_case_views(diff.project)
    quick_test_count = sum(1 for test in tests if test.quick_test)
    try:
        blocks = diff_view.blocks(services.preview(diff).original, diff.patched_code)
    except git.GitError:
        blocks = None  # the base commit is gone: the stored diff text is all there is
    asked = requested_by(diff)
    # What the change took, as its commit's trailers count it: every run, rejected too.
    chain = provenance.iterations(diff)
    usage = costs.totals_of(provenance.change_messages(chain))
    preference = ReviewPreference.objects.filter(user=user).first()
    layout = preference.diff_layout if preference else ReviewPreference.DiffLayout.UNIFIED
    committed = None
    if diff.committed_sha:
        committed = next(
            (c for c in git.history(diff.project.slug) if c.sha == diff.committed_sha), None
        )
    # Entries to pick from are the patched code's; with none picked, each side runs its
    # own graph's entry.
    trial = trial_panel(diff.patched_code, diff.project.main_file)
    config = {
        "projectId": str(diff.project_id),
        "diffId": str(diff.id),
        "userId": user.pk,
        "layout": layout,
        "status": diff.status,
        "commitMessage": diff.commit_message,
        "testCount": len(tests),
        "testNames": [test.name for test in tests],
        "quickTestCount": quick_test_count,
        "trial": trial.as_config(),
    }
    return render(
        request,
        "web/diff.html",
        {
            "diff": diff,
            "project": diff.project,
            "blocks": blocks,
            "diff_html": highlight.diff_html(diff.diff_content),
            "graph": graph_pages.diff_graph(diff),
            "asked": asked,
            "iterations": iterations_of(diff, chain),
            # What the change took: the run's model calls and its refinements.
            "usage": usage,
            "models": provenance.models_trailer(usage),
            "evaluator_verdict": provenance.evaluator_trailer(diff, len(chain)),
            "runs": len(chain),
            "layout": layout,
            "closed": diff.status in (Diff.Status.COMMITTED, Diff.Status.HUMAN_REJECTED),
            "committed": committed,
            "tests": tests,
            "test_views": test_views,
            "checks": checks.checks_summary([t.name for t in tests], diff.test_results or []),
            "test_results": checks.lead_with_regressions(diff.test_results or []),
            "test_count": len(tests),
            "quick_test_count": quick_test_count,
            "trial": trial,
            "config": config,
        },
    )


@login_required
@require_POST
def diff_layout(request: HttpRequest) -> HttpResponse:
    """Remember the person's diff layout (unified or split) for every browser."""
    layout = request.POST.get("layout", "")
    if layout not in ReviewPreference.DiffLayout.values:
        return JsonResponse({"layout": ["Must be unified or split."]}, status=400)
    ReviewPreference.objects.update_or_create(
        user=api_user(request), defaults={"diff_layout": layout}
    )
    return HttpResponse(status=204)


def pygments_css(request: HttpRequest) -> HttpResponse:
    return HttpResponse(highlight.stylesheet(), content_type="text/css")


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """The site's icon, for pages that name none (the admin's): browsers ask for
    /favicon.ico, which would otherwise be a 404 on every such page."""
    return redirect(static("favicon.svg"), permanent=True)
