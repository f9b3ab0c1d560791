"""Sessions and messages API. Sending a message is async: the run's task needs the loop."""

import uuid

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.generics import RetrieveAPIView, RetrieveDestroyAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents_app import runs
from agents_app.errors import ModelNotConfigured
from projects.services import get_owned_project
from sessions_app import costs, services
from sessions_app.models import ConversationMessage, VibecodeSession
from sessions_app.serializers import (
    FullResponseSerializer,
    MessageSerializer,
    PromptSerializer,
    SessionCreateSerializer,
    SessionSerializer,
)
from vibegrapher.async_api import ApiError, api_user, async_api_view, parse_body


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class ProjectSessionsView(APIView):
    """GET: the project's sessions. POST: create (201) or return (200) one."""

    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = get_owned_project(api_user(request), project_id)
        runs.mark_interrupted_runs()
        sessions = VibecodeSession.objects.filter(project=project)
        return Response(SessionSerializer(sessions, many=True).data)

    def post(self, request: Request, project_id: uuid.UUID) -> Response:
        project = get_owned_project(api_user(request), project_id)
        body = SessionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            session, created = services.get_or_create_session(
                project, body.validated_data["session_type"], body.validated_data["node_id"]
            )
        except services.UnknownNode as exc:
            raise ValidationError({"node_id": [str(exc)]}) from None
        return Response(
            SessionSerializer(session).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SessionView(RetrieveDestroyAPIView[VibecodeSession]):
    """GET a session; DELETE it with its messages and the agents' memory of it."""

    serializer_class = SessionSerializer
    lookup_url_kwarg = "session_id"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        runs.mark_interrupted_runs()
        return services.owned_sessions(api_user(self.request))

    def perform_destroy(self, instance: VibecodeSession) -> None:
        if runs.active_run(instance.id) is not None or (
            instance.run_state == VibecodeSession.RunState.RUNNING
        ):
            raise Conflict("A run is going in this session; wait for it to finish, then delete.")
        async_to_sync(runs.clear_session_memory)(instance)
        instance.delete()


class SessionUsageView(APIView):
    """GET: the session's tokens and cost, in all and per run."""

    def get(self, request: Request, session_id: uuid.UUID) -> Response:
        session = services.owned_sessions(api_user(request)).filter(id=session_id).first()
        if session is None:
            raise NotFound("No such session.")
        return Response(costs.session_usage(session))


class ProjectUsageView(APIView):
    """GET: the project's tokens and cost, in all and per session."""

    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = get_owned_project(api_user(request), project_id)
        return Response(costs.project_usage(project.id))


class FullResponseView(RetrieveAPIView[ConversationMessage]):
    serializer_class = FullResponseSerializer
    lookup_url_kwarg = "message_id"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return services.owned_messages(api_user(self.request))


def _messages_page(session: VibecodeSession, after: str | None) -> list[dict]:
    messages = session.messages.all()
    if after:
        try:
            anchor = session.messages.get(id=uuid.UUID(after))
        except (ValueError, ConversationMessage.DoesNotExist):
            raise ApiError(
                400, {"after": [f"{after!r} is not the id of a message in this session."]}
            ) from None
        messages = messages.filter(created_at__gt=anchor.created_at) | messages.filter(
            created_at=anchor.created_at, id__gt=anchor.id
        )
    return list(MessageSerializer(messages.order_by("created_at", "id"), many=True).data)


def run_in_progress(exc: runs.RunInProgress) -> dict[str, str | None]:
    """The 409 body: why, and when the run counts as dead should its server have stopped."""
    dead_at = exc.dead_at.isoformat() if exc.dead_at else None
    return {"detail": str(exc), "run_dead_at": dead_at}


@async_api_view("GET", "POST")
async def session_messages(request: HttpRequest, user: User, session_id: uuid.UUID) -> HttpResponse:
    """GET the history, oldest first (`?after=<id>`); POST `{prompt}` to start a run (202)."""
    try:
        session = await services.owned_sessions(user).aget(id=session_id)
    except VibecodeSession.DoesNotExist:
        raise ApiError(404, "No such session.") from None
    if request.method == "GET":
        page = await sync_to_async(_messages_page)(session, request.GET.get("after"))
        return JsonResponse(page, safe=False)
    prompt = parse_body(request, PromptSerializer)["prompt"]
    try:
        message = await runs.start_run(session, prompt)
    except (ModelNotConfigured, runs.RunNotStarted) as exc:
        raise ApiError(503, str(exc)) from None
    except runs.RunInProgress as exc:
        raise ApiError(409, run_in_progress(exc)) from None
    return JsonResponse({"status": "processing", "message_id": str(message.id)}, status=202)


@async_api_view("POST")
async def cancel_session_run(
    request: HttpRequest, user: User, session_id: uuid.UUID
) -> HttpResponse:
    """POST: stop the session's run. 200 when it ended (its `run_finished` "cancelled"
    sent), 202 when its server (another process) was asked to stop it."""
    if not await services.owned_sessions(user).filter(id=session_id).aexists():
        raise ApiError(404, "No such session.")
    try:
        ended = await runs.cancel_run(session_id)
    except runs.NoRunToCancel as exc:
        raise ApiError(409, str(exc)) from None
    if ended:
        return JsonResponse({"status": "cancelled"})
    return JsonResponse({"status": "cancelling"}, status=202)
