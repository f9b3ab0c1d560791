"""Diffs API. Reviewing (a rejection starts a run) and refining call models: async views."""

import uuid
from dataclasses import asdict

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents_app import runs
from agents_app.commit_messages import refine_commit_message
from agents_app.errors import ModelNotConfigured, describe_error
from projects.models import Project
from projects.services import get_owned_project
from reviews import diff_tests, head_tests, sandbox, services
from reviews.models import Diff
from reviews.serializers import (
    CommitSerializer,
    DiffSerializer,
    HeadTestRunSerializer,
    RefineSerializer,
    ReviewSerializer,
    TestRunSerializer,
)
from sessions_app.services import owned_sessions
from vibegrapher.async_api import ApiError, api_user, async_api_view, parse_body


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class ProjectDiffsView(ListAPIView[Diff]):
    serializer_class = DiffSerializer
    pagination_class = None

    def get_queryset(self):  # type: ignore[no-untyped-def]
        project = get_owned_project(api_user(self.request), self.kwargs["project_id"])
        return Diff.objects.filter(project=project)


class SessionDiffsView(ListAPIView[Diff]):
    serializer_class = DiffSerializer
    pagination_class = None
    pending_only = False

    def get_queryset(self):  # type: ignore[no-untyped-def]
        session = owned_sessions(api_user(self.request)).filter(id=self.kwargs["session_id"])
        if not session.exists():
            raise Http404("No such session.")
        diffs = Diff.objects.filter(session_id=self.kwargs["session_id"])
        return diffs.filter(status__in=services.PENDING) if self.pending_only else diffs


class DiffView(RetrieveAPIView[Diff]):
    serializer_class = DiffSerializer
    lookup_url_kwarg = "diff_id"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return services.owned_diffs(api_user(self.request))


class DiffPreviewView(APIView):
    def get(self, request: Request, diff_id: uuid.UUID) -> Response:
        diff = services.owned_diffs(api_user(request)).filter(id=diff_id).first()
        if diff is None:
            return Response({"detail": "No such diff."}, status=404)
        preview = services.preview(diff)
        return Response(
            {"original": preview.original, "patched": preview.patched, "diff": preview.diff}
        )


class DiffCommitView(APIView):
    def post(self, request: Request, diff_id: uuid.UUID) -> Response:
        user = api_user(request)
        if not services.owned_diffs(user).filter(id=diff_id).exists():
            return Response({"detail": "No such diff."}, status=404)
        body = CommitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            diff = services.commit(diff_id, user, body.validated_data.get("commit_message"))
        except services.ReviewConflict as exc:
            raise Conflict(str(exc)) from None
        return Response({"committed_sha": diff.committed_sha, **DiffSerializer(diff).data})


async def _owned_diff(user: User, diff_id: uuid.UUID) -> Diff:
    diff = await services.owned_diffs(user).filter(id=diff_id).afirst()
    if diff is None:
        raise ApiError(404, "No such diff.")
    return diff


@async_api_view("POST")
async def review_diff(request: HttpRequest, user: User, diff_id: uuid.UUID) -> HttpResponse:
    """`{approved: true}` -> human_approved; `{approved: false, feedback}` -> a new round."""
    diff = await _owned_diff(user, diff_id)
    body = parse_body(request, ReviewSerializer)
    try:
        if body["approved"]:
            diff = await sync_to_async(services.approve)(diff)
            return JsonResponse(await sync_to_async(lambda: DiffSerializer(diff).data)())
        message = await services.reject(diff, body["feedback"].strip())
    except services.ReviewConflict as exc:
        raise ApiError(409, str(exc)) from None
    except runs.RunInProgress as exc:
        raise ApiError(409, str(exc)) from None
    except (ModelNotConfigured, runs.RunNotStarted) as exc:
        raise ApiError(503, str(exc)) from None
    diff = await services.owned_diffs(user).aget(id=diff_id)
    data = await sync_to_async(lambda: DiffSerializer(diff).data)()
    return JsonResponse({**data, "message_id": str(message.id)})


@async_api_view("POST")
async def refine_message(request: HttpRequest, user: User, diff_id: uuid.UUID) -> HttpResponse:
    """The commit message refiner suggests a message; the diff keeps its own until commit."""
    diff = await _owned_diff(user, diff_id)
    hint = parse_body(request, RefineSerializer)["hint"]
    if diff.status == Diff.Status.COMMITTED:
        raise ApiError(409, "The diff is committed; its message can no longer change.")
    try:
        message = await refine_commit_message(diff, hint.strip())
    except ModelNotConfigured as exc:
        raise ApiError(503, str(exc)) from None
    except Exception as exc:
        raise ApiError(502, describe_error(exc, agent="Commit message refiner")) from None
    return JsonResponse({"commit_message": message})


@async_api_view("POST")
async def run_diff_tests(request: HttpRequest, user: User, diff_id: uuid.UUID) -> HttpResponse:
    """Start the project's tests (`{quick_only}`) on the patched file; 202 at once."""
    diff = await _owned_diff(user, diff_id)
    quick_only = parse_body(request, TestRunSerializer)["quick_only"]
    try:
        run = await diff_tests.start_test_run(diff, quick_only=quick_only)
    except sandbox.SandboxUnavailable as exc:
        raise ApiError(503, f"Tests cannot run on this server: {exc}") from None
    except (diff_tests.NoTests, diff_tests.TestsRunning) as exc:
        raise ApiError(409, str(exc)) from None
    return JsonResponse(
        {
            "diff_id": str(run.diff_id),
            "quick_only": quick_only,
            "tests": [
                {"id": str(test.id), "name": test.name, "quick_test": test.quick}
                for test in run.tests
            ],
        },
        status=202,
    )


@async_api_view("POST")
async def run_head_tests(request: HttpRequest, user: User, project_id: uuid.UUID) -> HttpResponse:
    """Run the project's tests (`{quick_only, test_id}`) on its current code; answers
    with the results once they finished (nothing is stored)."""
    project = await Project.objects.filter(id=project_id, owner=user).afirst()
    if project is None:
        raise ApiError(404, "No such project.")
    body = parse_body(request, HeadTestRunSerializer)
    try:
        run = await head_tests.run_against_head(
            project, quick_only=body["quick_only"], test_id=body.get("test_id")
        )
    except sandbox.SandboxUnavailable as exc:
        raise ApiError(503, f"Tests cannot run on this server: {exc}") from None
    except head_tests.NoTestsToRun as exc:
        raise ApiError(409 if body.get("test_id") is None else 404, str(exc)) from None
    return JsonResponse({"commit": run.commit, "results": [asdict(r) for r in run.results]})
