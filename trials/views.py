"""The trial API: start one (202 at once; its spans follow on the WebSocket), read one
with its spans, list a project's or a diff's, cancel one."""

import uuid

from adrf.views import APIView as AsyncAPIView
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.services import NO_SUCH_PROJECT, get_owned_project
from trials import runs
from trials.models import Trial
from trials.serializers import TrialSerializer, TrialStartSerializer, TrialSummarySerializer
from vibegrapher.api.async_api import ApiError, api_user, validated_body
from vibegrapher.api.pagination import keyset_page, page_body, paginated
from vibegrapher.api.schema import PAGE_PARAMETERS, authed_errors
from vibegrapher.lib.background import in_thread

TRIAL_PAGE = paginated(TrialSummarySerializer, "TrialPage")


class ProjectTrialsView(AsyncAPIView):
    @extend_schema(
        summary="Try the workflow on an input (202 at once)",
        description="Runs the project's workflow at HEAD, or a diff's patched (default) or "
        "base code, on `input`, in the sandbox; `entry` picks the agent (its name or "
        "variable) or workflow function to run, else the graph's entry is run. Its "
        "`trial_status`, `trial_span` and `trial_finished` events arrive on the project's "
        "WebSocket. 409: no model configured, or `side` without `diff_id`; 429: too many "
        "trials running, or the daily trial budget spent; 503: the sandbox cannot run here.",
        request=TrialStartSerializer,
        responses={
            202: inline_serializer(
                "TrialStarted",
                {"id": serializers.UUIDField(), "status": serializers.CharField()},
            ),
            **authed_errors(400, 404, 409, 429, 503),
        },
    )
    async def post(self, request: Request, project_id: uuid.UUID) -> Response:
        body = validated_body(request, TrialStartSerializer)
        try:
            trial = await runs.start_trial(
                api_user(request),
                project_id,
                body["input"],
                diff_id=body["diff_id"],
                side=body["side"],
                entry=body["entry"] or None,
            )
        except runs.TrialRefused as exc:
            raise ApiError(exc.status, str(exc)) from None
        return Response({"id": str(trial.id), "status": trial.status}, status=202)

    @extend_schema(
        summary="The project's trials, newest first (without their spans)",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter("diff_id", uuid.UUID, description="Only this diff's trials."),
            OpenApiParameter(
                "origin",
                str,
                enum=["person", "case"],
                description="`person` (the default): trials people started; `case`: the "
                "runs of behaviour cases.",
            ),
        ],
        responses={200: TRIAL_PAGE, **authed_errors(400)},
    )
    async def get(self, request: Request, project_id: uuid.UUID) -> Response:
        return await _list(request, project_id)


@in_thread
def _list_sync(request: Request, project_id: uuid.UUID) -> Response:
    try:
        project = get_owned_project(api_user(request), project_id)
    except Http404:
        raise ApiError(404, NO_SUCH_PROJECT) from None
    origin = request.query_params.get("origin") or Trial.Origin.PERSON
    if origin not in Trial.Origin.values:
        raise ApiError(400, {"origin": [f"One of {Trial.Origin.values}."]})
    trials = Trial.objects.filter(project=project, origin=origin)
    diff_id = request.query_params.get("diff_id")
    if diff_id is not None:
        try:
            trials = trials.filter(diff_id=uuid.UUID(diff_id))
        except ValueError:
            raise ApiError(
                400, {"diff_id": ["Not a UUID: give a diff's id, or leave it out."]}
            ) from None
    runs.finish_dead(trials)
    page, next_page = keyset_page(request, trials, direction="newest_first")
    return Response(page_body(TrialSummarySerializer(page, many=True).data, next_page))


async def _list(request: Request, project_id: uuid.UUID) -> Response:
    return await _list_sync(request, project_id)


def _owned_trial(request: Request, trial_id: uuid.UUID) -> Trial:
    trial = (
        Trial.objects.filter(id=trial_id, project__owner=api_user(request))
        .select_related("project")
        .first()
    )
    if trial is None:
        raise ApiError(404, "No such trial.")
    return trial


class TrialView(APIView):
    @extend_schema(
        summary="A trial with its spans",
        responses={200: TrialSerializer, **authed_errors()},
    )
    def get(self, request: Request, trial_id: uuid.UUID) -> Response:
        trial = _owned_trial(request, trial_id)
        if runs.finish_dead(Trial.objects.filter(id=trial.id)):
            trial.refresh_from_db()
        trial = Trial.objects.prefetch_related("spans").get(id=trial.id)
        return Response(TrialSerializer(trial).data)


class TrialCancelView(AsyncAPIView):
    @extend_schema(
        summary="Stop a trial",
        description="200 when it ended here (its `trial_finished` says `cancelled`); 202 "
        "when another server process runs it and was told (it stops within a second); "
        "409 when it has finished.",
        request=None,
        responses={
            200: inline_serializer("TrialCancelled", {"status": serializers.CharField()}),
            202: inline_serializer("TrialCancelling", {"status": serializers.CharField()}),
            **authed_errors(409),
        },
    )
    async def post(self, request: Request, trial_id: uuid.UUID) -> Response:
        await in_thread(_owned_trial)(request, trial_id)
        try:
            ended = await runs.cancel_trial(trial_id)
        except runs.NotRunning as exc:
            raise ApiError(409, str(exc)) from None
        if ended:
            return Response({"status": "cancelled"})
        return Response({"status": "cancelling"}, status=202)
