"""Sessions API: sessions, their usage, stored messages and event bodies.

Sending a message (which starts a run) and stopping a run are agents_app's views.
"""

import uuid

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.generics import RetrieveAPIView, RetrieveDestroyAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.services import get_owned_project
from sessions_app import costs, event_bodies, services
from sessions_app.models import ConversationMessage, VibecodeSession
from sessions_app.serializers import (
    FullResponseSerializer,
    MessageSerializer,
    SessionCreateSerializer,
    SessionSerializer,
)
from sessions_app.signals import SessionBusy, session_deleting, sessions_read
from vibegrapher.api.async_api import ApiError, api_user
from vibegrapher.api.pagination import keyset_page, page_body, paginated
from vibegrapher.api.schema import PAGE_PARAMETERS, authed_errors


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class ProjectSessionsView(APIView):
    """GET: the project's sessions. POST: create (201) or return (200) one."""

    @extend_schema(
        summary="The project's sessions, oldest first",
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(SessionSerializer, "SessionPage"), **authed_errors(400)},
    )
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = get_owned_project(api_user(request), project_id)
        sessions_read.send(sender=VibecodeSession)
        sessions = VibecodeSession.objects.filter(project=project)
        page, next_page = keyset_page(request, sessions, direction="oldest_first")
        return Response(page_body(SessionSerializer(page, many=True).data, next_page))

    @extend_schema(
        summary="Create a session (201), or return the existing one of that kind (200)",
        request=SessionCreateSerializer,
        responses={201: SessionSerializer, 200: SessionSerializer, **authed_errors(400)},
    )
    def post(self, request: Request, project_id: uuid.UUID) -> Response:
        project = get_owned_project(api_user(request), project_id)
        body = SessionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            session, created = services.get_or_create_session(
                project, body.validated_data["session_type"], body.validated_data["node_id"]
            )
        except services.UnknownNode as exc:
            # A well-formed name that no agent in the code has.
            raise ApiError(404, str(exc)) from None
        return Response(
            SessionSerializer(session).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


@extend_schema_view(
    get=extend_schema(responses={200: SessionSerializer, **authed_errors()}),
    delete=extend_schema(
        summary="Delete a session with its messages and the agents' memory of it",
        responses={204: None, **authed_errors(409)},
    ),
)
class SessionView(RetrieveDestroyAPIView[VibecodeSession]):
    """GET a session; DELETE it with its messages and the agents' memory of it."""

    serializer_class = SessionSerializer
    lookup_url_kwarg = "session_id"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        sessions_read.send(sender=VibecodeSession)
        return services.owned_sessions(api_user(self.request))

    def perform_destroy(self, instance: VibecodeSession) -> None:
        busy = "A run is going in this session; wait for it to finish, then delete."
        if instance.run_state == VibecodeSession.RunState.RUNNING:
            raise Conflict(busy)
        try:
            session_deleting.send(sender=VibecodeSession, session=instance)
        except SessionBusy:
            raise Conflict(busy) from None
        instance.delete()


class SessionUsageView(APIView):
    """GET: the session's tokens and cost, in all and per run."""

    @extend_schema(
        summary="The session's tokens and cost, in all and per run",
        responses={200: OpenApiTypes.OBJECT, **authed_errors()},
    )
    def get(self, request: Request, session_id: uuid.UUID) -> Response:
        session = services.owned_sessions(api_user(request)).filter(id=session_id).first()
        if session is None:
            raise NotFound("No such session.")
        return Response(costs.session_usage(session))


class ProjectUsageView(APIView):
    """GET: the project's tokens and cost, in all and per session."""

    @extend_schema(
        summary="The project's tokens and cost, in all and per session",
        responses={200: OpenApiTypes.OBJECT, **authed_errors()},
    )
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = get_owned_project(api_user(request), project_id)
        return Response(costs.project_usage(project.id))


@extend_schema(
    summary="The whole event a WebSocket `large_event` stands for",
    description="The event's JSON, byte for byte as the socket would have carried it (a "
    "`WebSocketEvent`). Kept EVENT_BODY_TTL_SECONDS (600) after it was sent; then 404.",
    responses={
        200: OpenApiResponse(
            response={"$ref": "#/components/schemas/WebSocketEvent"},
            description="The event, as if it had come over the socket.",
        ),
        **authed_errors(),
    },
)
class EventBodyView(APIView):
    def get(self, request: Request, project_id: uuid.UUID, event_id: uuid.UUID) -> HttpResponse:
        get_owned_project(api_user(request), project_id)
        text = event_bodies.find(project_id, event_id)
        if text is None:
            raise NotFound(
                "No such event: its body is kept "
                f"{settings.EVENT_BODY_TTL_SECONDS} s after it is sent. Re-read what it "
                "would have changed (the session's messages, the diff, the project), as "
                "after a reconnect."
            )
        # As kept: the very JSON the socket would have carried, not parsed again.
        return HttpResponse(text, content_type="application/json")


@extend_schema(
    summary="A message's whole stored model response (audit)",
    responses={200: FullResponseSerializer, **authed_errors()},
)
class FullResponseView(RetrieveAPIView[ConversationMessage]):
    serializer_class = FullResponseSerializer
    lookup_url_kwarg = "message_id"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return services.owned_messages(api_user(self.request))


def messages_page(request: Request, session: VibecodeSession) -> dict:
    """A page of the session's messages, oldest first (agents_app's messages view
    answers GET with it); `?after=<message id>` starts after that message (a reconnecting
    client's catch-up), `?cursor=` (from `next`) after the previous page."""
    after = request.query_params.get("after")
    anchor = None
    if after and not request.query_params.get("cursor"):
        try:
            message_id = uuid.UUID(after)
        except ValueError:
            raise ApiError(400, {"after": [f"{after!r} is not a message id (a UUID)."]}) from None
        message = session.messages.filter(id=message_id).first()
        if message is None:
            raise ApiError(404, f"{after!r} is not the id of a message in this session.")
        anchor = (message.created_at, message.id)
    page, next_page = keyset_page(
        request, session.messages.all(), direction="oldest_first", anchor=anchor
    )
    return page_body(MessageSerializer(page, many=True).data, next_page)
