"""The review UI: server-rendered pages; live updates come from the project WebSocket."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from projects import git
from projects.code import InvalidCode, validate_code
from projects.graph import build_graph
from projects.models import Project
from projects.services import create_project, delete_project, get_owned_project
from reviews import graph_pages, highlight, services
from sessions_app.models import VibecodeSession
from sessions_app.services import UnknownNode, get_or_create_session
from vibegrapher.async_api import api_user


@login_required
@require_http_methods(["GET", "POST"])
def project_list(request: HttpRequest) -> HttpResponse:
    user = api_user(request)
    code = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        try:
            code = _submitted_code(request)
        except InvalidCode as exc:
            code = request.POST.get("code", "")  # kept in the form, to be fixed
            messages.error(request, str(exc))
        else:
            if not name or len(name) > 100:
                messages.error(request, "A project needs a name of 1 to 100 characters.")
            elif "\x00" in name:  # as the API answers (DRF refuses NUL in text)
                messages.error(request, "A project name cannot contain NUL characters.")
            else:
                project = create_project(user, name, code or None)
                _say_what_is_unresolved(request, project)
                return redirect("project-page", project_id=project.id)
    return render(
        request, "reviews/project_list.html", {"projects": user.projects.all(), "code": code}
    )


def _submitted_code(request: HttpRequest) -> str:
    """The uploaded file's text, else the pasted code ("" for neither), checked like the
    API checks it. Raises InvalidCode naming the problem."""
    upload = request.FILES.get("file")
    if upload is not None and upload.size:
        if upload.size > settings.MAX_CODE_BYTES:
            raise InvalidCode(
                f"{upload.name} is {upload.size} bytes; the limit is {settings.MAX_CODE_BYTES} "
                "bytes (MAX_CODE_BYTES)."
            )
        try:
            code = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidCode(f"{upload.name} is not UTF-8 text.") from None
        validate_code(code, f"The file {upload.name}")
        return code
    code = request.POST.get("code", "")
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


@login_required
@require_GET
def project_page(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    project = get_owned_project(api_user(request), project_id)
    # ?focus=<graph node id>: its lines are highlighted; an agent's opens its conversation.
    graph = graph_pages.project_graph(project, request.GET.get("focus", ""))
    session = None
    if graph.focused is not None and graph.focused.kind == "agent":
        try:
            session, _ = get_or_create_session(
                project, VibecodeSession.SessionType.NODE, graph.focused.label
            )
        except UnknownNode as exc:
            messages.error(request, str(exc))
    if session is None:
        session, _ = get_or_create_session(project, "global")
    history = list(session.messages.all())
    tokens = sum((m.token_usage or {}).get("total_tokens", 0) for m in history)
    pending = session.diffs.filter(status__in=services.PENDING).first()
    config = {
        "projectId": str(project.id),
        "sessionId": str(session.id),
        "running": session.run_state == "running",
        "lastMessageId": str(history[-1].id) if history else None,
    }
    return render(
        request,
        "reviews/project.html",
        {
            "project": project,
            "session": session,
            "history": history,
            "tokens": tokens,
            "pending": pending,
            "code_html": graph_pages.code_html(project.current_code, graph.focused),
            "graph": graph,
            "commits": git.history(project.slug, limit=20),
            "config": config,
        },
    )


@login_required
@require_GET
def diff_page(request: HttpRequest, diff_id: uuid.UUID) -> HttpResponse:
    diff = get_object_or_404(services.owned_diffs(api_user(request)), id=diff_id)
    test_count = diff.project.test_cases.count()
    quick_test_count = diff.project.test_cases.filter(quick_test=True).count()
    config = {
        "projectId": str(diff.project_id),
        "diffId": str(diff.id),
        "status": diff.status,
        "testCount": test_count,
        "quickTestCount": quick_test_count,
    }
    return render(
        request,
        "reviews/diff.html",
        {
            "diff": diff,
            "project": diff.project,
            "diff_html": highlight.diff_html(diff.diff_content),
            "graph": graph_pages.diff_graph(diff),
            "test_count": test_count,
            "quick_test_count": quick_test_count,
            "config": config,
        },
    )


def pygments_css(request: HttpRequest) -> HttpResponse:
    return HttpResponse(highlight.stylesheet(), content_type="text/css")
