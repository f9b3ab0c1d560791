"""The review UI: server-rendered pages; live updates come from the project WebSocket."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from projects import git
from projects.services import create_project, delete_project, get_owned_project
from reviews import highlight, services
from sessions_app.services import get_or_create_session
from vibegrapher.async_api import api_user


@login_required
@require_http_methods(["GET", "POST"])
def project_list(request: HttpRequest) -> HttpResponse:
    user = api_user(request)
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not name or len(name) > 100:
            messages.error(request, "A project needs a name of 1 to 100 characters.")
        elif "\x00" in name:  # as the API answers (DRF refuses NUL in text)
            messages.error(request, "A project name cannot contain NUL characters.")
        else:
            project = create_project(user, name)
            return redirect("project-page", project_id=project.id)
    return render(request, "reviews/project_list.html", {"projects": user.projects.all()})


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
    session, _ = get_or_create_session(project, "global")
    history = list(session.messages.all())
    tokens = sum((m.token_usage or {}).get("total_tokens", 0) for m in history)
    pending = session.diffs.filter(status__in=services.PENDING).first()
    config = {
        "projectId": str(project.id),
        "sessionId": str(session.id),
        "running": session.run_state == "running",
        "maxRounds": settings.VIBECODE_MAX_ROUNDS,
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
            "code_html": highlight.python_html(project.current_code),
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
            "test_count": test_count,
            "quick_test_count": quick_test_count,
            "config": config,
        },
    )


def pygments_css(request: HttpRequest) -> HttpResponse:
    return HttpResponse(highlight.stylesheet(), content_type="text/css")
