"""Diffs API. Reviewing (a rejection starts a run) and refining call models: async
views (adrf), so that a run's task lands on the server's event loop."""

import uuid

from adrf.views import APIView as AsyncAPIView
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.generics import RetrieveAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents_app import runs
from agents_app.commit_messages import refine_commit_message
from agents_app.errors import ModelNotConfigured, describe_error
from projects.services import get_owned_project
from reviews import services
from reviews.models import Diff
from reviews.serializers import (
    CommitSerializer,
    DiffSerializer,
    RefineSerializer,
    ReviewSerializer,
)
from sessions_app.services import owned_sessions
from vibegrapher.async_api import ApiError, api_user, validated_body
from vibegrapher.pagination import keyset_page, page_body, paginated
from vibegrapher.schema import PAGE_PARAMETERS, authed_errors


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


async def _owned_diff(user: User, diff_id: uuid.UUID) -> Diff:
    diff = await services.owned_diffs(user).filter(id=diff_id).afirst()
    if diff is None:
        raise ApiError(404, "No such diff.")
    return diff


class ReviewedDiffSerializer(DiffSerializer):
    message_id = serializers.UUIDField(
        required=False,
        help_text="After a rejection: the stored feedback message that starts the new round.",
    )

    class Meta(DiffSerializer.Meta):
        fields = [*DiffSerializer.Meta.fields, "message_id"]
        read_only_fields = fields


class ReviewView(AsyncAPIView):
    lane = "model"  # waits for the Evaluator's answer

    @extend_schema(
        summary="Approve a diff, or reject it with feedback (a new round starts)",
        description="`{approved: true}` makes it `human_approved`; `{approved: false, "
        "feedback}` sends the feedback to the VibeCoder (a run: its events arrive on the "
        "WebSocket) and answers with the diff and the feedback's `message_id`.",
        request=ReviewSerializer,
        responses={200: ReviewedDiffSerializer, **authed_errors(400, 409, 503)},
    )
    async def post(self, request: Request, diff_id: uuid.UUID) -> Response:
        user = api_user(request)
        diff = await _owned_diff(user, diff_id)
        body = validated_body(request, ReviewSerializer)
        try:
            if body["approved"]:
                diff = await sync_to_async(services.approve)(diff)
                return Response(await sync_to_async(lambda: DiffSerializer(diff).data)())
            message = await services.reject(diff, body["feedback"].strip())
        except services.ReviewConflict as exc:
            raise ApiError(409, str(exc)) from None
        except runs.RunInProgress as exc:
            raise ApiError(409, str(exc)) from None
        except (ModelNotConfigured, runs.RunNotStarted) as exc:
            raise ApiError(503, str(exc)) from None
        diff = await services.owned_diffs(user).aget(id=diff_id)
        data = await sync_to_async(lambda: DiffSerializer(diff).data)()
        return Response({**data, "message_id": str(message.id)})


class RefineMessageView(AsyncAPIView):
    lane = "model"  # waits for the model's answer

    @extend_schema(
        summary="Ask the commit message refiner for a message; the diff keeps its own until commit",
        request=RefineSerializer,
        responses={
            200: inline_serializer("RefinedMessage", {"commit_message": serializers.CharField()}),
            **authed_errors(400, 409, 502, 503),
        },
    )
    async def post(self, request: Request, diff_id: uuid.UUID) -> Response:
        diff = await _owned_diff(api_user(request), diff_id)
        hint = validated_body(request, RefineSerializer)["hint"]
        if diff.status == Diff.Status.COMMITTED:
            raise ApiError(409, "The diff is committed; its message can no longer change.")
        try:
            message = await refine_commit_message(diff, hint.strip())
        except ModelNotConfigured as exc:
            raise ApiError(503, str(exc)) from None
        except Exception as exc:
            raise ApiError(502, describe_error(exc, agent="Commit message refiner")) from None
        return Response({"commit_message": message})
