"""The API views that start runs or call models, at the URLs of the resources they
act on: sending a message (a run), stopping a run, reviewing a diff (a rejection
starts the next round) and refining its commit message.

Here, not in sessions_app or reviews, because those apps sit below agents_app and do
not import it. Async (adrf), so that a run's task lands on the server's event loop.
"""

import uuid

from adrf.views import APIView as AsyncAPIView
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from agents_app import runs
from agents_app.commit_messages import refine_commit_message
from agents_app.errors import ModelNotConfigured, describe_error
from reviews import services
from reviews.models import Diff
from reviews.serializers import DiffSerializer, RefineSerializer, ReviewSerializer
from sessions_app.models import ConversationMessage, VibecodeSession
from sessions_app.serializers import MessageSerializer, PromptSerializer
from sessions_app.services import owned_sessions
from sessions_app.views import messages_page
from vibegrapher.api.async_api import ApiError, api_user, validated_body
from vibegrapher.api.pagination import paginated
from vibegrapher.api.schema import PAGE_PARAMETERS, UUID_OR_EMPTY, authed_errors


def run_in_progress(exc: runs.RunInProgress) -> dict[str, str | None]:
    """The 409 body: why, and when the run counts as dead should its server have stopped."""
    dead_at = exc.dead_at.isoformat() if exc.dead_at else None
    return {"detail": str(exc), "run_dead_at": dead_at}


async def _owned_session(request: Request, session_id: uuid.UUID) -> VibecodeSession:
    try:
        return await owned_sessions(api_user(request)).aget(id=session_id)
    except VibecodeSession.DoesNotExist:
        raise ApiError(404, "No such session.") from None


RUN_CONFLICT = inline_serializer(
    "RunInProgress",
    {
        "detail": serializers.CharField(),
        "run_dead_at": serializers.DateTimeField(
            allow_null=True,
            help_text="From then on the run counts as dead (should its server have "
            "stopped) and a new message is accepted.",
        ),
    },
)


class SessionMessagesView(AsyncAPIView):
    @extend_schema(
        summary="The session's messages, oldest first",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter(
                "after",
                {"type": "string", "pattern": UUID_OR_EMPTY},
                description="Only the messages after this one (a client catching up "
                "after a reconnect). Ignored when `cursor` is given.",
            ),
        ],
        responses={200: paginated(MessageSerializer, "MessagePage"), **authed_errors(400)},
    )
    async def get(self, request: Request, session_id: uuid.UUID) -> Response:
        session = await _owned_session(request, session_id)
        return Response(await sync_to_async(messages_page)(request, session))

    @extend_schema(
        summary="Send a prompt: starts a run (202); its events arrive on the WebSocket",
        request=PromptSerializer,
        responses={
            202: inline_serializer(
                "RunStarted",
                {
                    "status": serializers.ChoiceField(choices=["processing"]),
                    "message_id": serializers.UUIDField(
                        help_text="The stored user message; the run's messages follow it."
                    ),
                },
            ),
            409: OpenApiResponse(RUN_CONFLICT, description="A run is going in this session."),
            **authed_errors(400, 413, 503),
        },
    )
    async def post(self, request: Request, session_id: uuid.UUID) -> Response:
        session = await _owned_session(request, session_id)
        prompt = validated_body(request, PromptSerializer)["prompt"]
        try:
            message = await runs.start_run(session, prompt)
        except (ModelNotConfigured, runs.RunNotStarted) as exc:
            raise ApiError(503, str(exc)) from None
        except runs.RunInProgress as exc:
            raise ApiError(409, run_in_progress(exc)) from None
        return Response({"status": "processing", "message_id": str(message.id)}, status=202)


class CancelRunView(AsyncAPIView):
    @extend_schema(
        summary="Stop the session's run",
        description="200 when the run ended here (its `run_finished` says `cancelled`); "
        "202 when it runs in another server process, which stops it within "
        "RUN_HEARTBEAT_SECONDS; 409 when no run is going.",
        request=None,
        responses={
            200: inline_serializer(
                "RunCancelled", {"status": serializers.ChoiceField(choices=["cancelled"])}
            ),
            202: inline_serializer(
                "RunCancelling", {"status": serializers.ChoiceField(choices=["cancelling"])}
            ),
            **authed_errors(409),
        },
    )
    async def post(self, request: Request, session_id: uuid.UUID) -> Response:
        if not await owned_sessions(api_user(request)).filter(id=session_id).aexists():
            raise ApiError(404, "No such session.")
        try:
            ended = await runs.cancel_run(session_id)
        except runs.NoRunToCancel as exc:
            raise ApiError(409, str(exc)) from None
        if ended:
            return Response({"status": "cancelled"})
        return Response({"status": "cancelling"}, status=202)


async def _owned_diff(user: User, diff_id: uuid.UUID) -> Diff:
    diff = await services.owned_diffs(user).filter(id=diff_id).afirst()
    if diff is None:
        raise ApiError(404, "No such diff.")
    return diff


async def _next_round(diff: Diff, feedback: str) -> ConversationMessage:
    """The VibeCoder's run on a rejected diff's feedback (reviews.services.reject)."""
    return await runs.start_run(
        diff.session,
        runs.rejection_prompt(diff, feedback),
        display_text=feedback,
        revises=diff.id,
    )


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
            message = await services.reject(diff, body["feedback"].strip(), _next_round)
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
