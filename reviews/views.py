"""Diffs API: the diffs, their preview and commit. Running their tests is testruns's;
reviewing (a rejection starts a run) and refining the commit message call models:
agents_app's views."""

import uuid

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.generics import RetrieveAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.services import get_owned_project
from reviews import services
from reviews.models import Diff
from reviews.serializers import (
    CommitSerializer,
    DiffSerializer,
)
from sessions_app.services import owned_sessions
from vibegrapher.api.async_api import api_user
from vibegrapher.api.pagination import keyset_page, page_body, paginated
from vibegrapher.api.schema import PAGE_PARAMETERS, authed_errors


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


DIFF_PAGE = paginated(DiffSerializer, "DiffPage")


class ProjectDiffsView(APIView):
    @extend_schema(
        summary="The project's diffs, newest first",
        parameters=PAGE_PARAMETERS,
        responses={200: DIFF_PAGE, **authed_errors(400)},
    )
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = get_owned_project(api_user(request), project_id)
        page, next_page = keyset_page(
            request,
            Diff.objects.filter(project=project).prefetch_related("next_iterations"),
            direction="newest_first",
        )
        return Response(page_body(DiffSerializer(page, many=True).data, next_page))


class SessionDiffsView(APIView):
    pending_only = False

    @extend_schema(
        summary="The session's diffs (or only those awaiting a decision), newest first",
        parameters=PAGE_PARAMETERS,
        responses={200: DIFF_PAGE, **authed_errors(400)},
    )
    def get(self, request: Request, session_id: uuid.UUID) -> Response:
        session = owned_sessions(api_user(request)).filter(id=session_id)
        if not session.exists():
            raise Http404("No such session.")
        diffs = Diff.objects.filter(session_id=session_id).prefetch_related("next_iterations")
        if self.pending_only:
            diffs = diffs.filter(status__in=services.PENDING)
        page, next_page = keyset_page(request, diffs, direction="newest_first")
        return Response(page_body(DiffSerializer(page, many=True).data, next_page))


@extend_schema(responses={200: DiffSerializer, **authed_errors()})
class DiffView(RetrieveAPIView[Diff]):
    serializer_class = DiffSerializer
    lookup_url_kwarg = "diff_id"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return services.owned_diffs(api_user(self.request))


class DiffPreviewView(APIView):
    @extend_schema(
        summary="The file before and after the diff, and the diff",
        responses={
            200: inline_serializer(
                "DiffPreview",
                {
                    "original": serializers.CharField(),
                    "patched": serializers.CharField(),
                    "diff": serializers.CharField(),
                },
            ),
            **authed_errors(),
        },
    )
    def get(self, request: Request, diff_id: uuid.UUID) -> Response:
        diff = services.owned_diffs(api_user(request)).filter(id=diff_id).first()
        if diff is None:
            return Response({"detail": "No such diff."}, status=404)
        preview = services.preview(diff)
        return Response(
            {"original": preview.original, "patched": preview.patched, "diff": preview.diff}
        )


class DiffCommitView(APIView):
    @extend_schema(
        summary="Commit an approved diff into the project's repository",
        request=CommitSerializer,
        responses={200: DiffSerializer, **authed_errors(400, 409)},
    )
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
