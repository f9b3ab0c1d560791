"""The behaviour case API: a project's cases (CRUD, or one made from a trial), a case
run on the current code, and a diff's cases before and after."""

import uuid

from adrf.views import APIView as AsyncAPIView
from django.db import IntegrityError
from django.http import Http404
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import diff_cases, expectations, head_cases, reads
from cases.models import BehaviourCase
from cases.serializers import (
    BehaviourCaseSerializer,
    CaseFromTrialSerializer,
    DiffCaseRowSerializer,
    duplicate_case_name,
)
from projects.models import Project
from projects.services import NO_SUCH_PROJECT, get_owned_project
from reviews.models import Diff
from reviews.services import owned_diffs
from trials.models import Trial
from vibegrapher.api.async_api import ApiError, api_user, validated_body
from vibegrapher.api.pagination import keyset_page, page_body, paginated
from vibegrapher.api.schema import PAGE_PARAMETERS, authed_errors
from vibegrapher.lib.background import in_thread

NO_SUCH_CASE = "No such behaviour case."


def _project(request: Request, project_id: uuid.UUID) -> Project:
    try:
        return get_owned_project(api_user(request), project_id)
    except Http404:
        raise ApiError(404, NO_SUCH_PROJECT) from None


def _case(request: Request, case_id: uuid.UUID) -> BehaviourCase:
    case = BehaviourCase.objects.filter(id=case_id, project__owner=api_user(request)).first()
    if case is None:
        raise ApiError(404, NO_SUCH_CASE)
    return case


class ProjectCasesView(APIView):
    @extend_schema(
        summary="The project's behaviour cases, oldest first",
        parameters=PAGE_PARAMETERS,
        responses={
            200: paginated(BehaviourCaseSerializer, "BehaviourCasePage"),
            **authed_errors(400),
        },
    )
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = _project(request, project_id)
        page, next_page = keyset_page(
            request, BehaviourCase.objects.filter(project=project), direction="oldest_first"
        )
        return Response(page_body(BehaviourCaseSerializer(page, many=True).data, next_page))

    @extend_schema(
        summary="Add a behaviour case (or make one from a trial: `from_trial`)",
        description="With `from_trial`, the case takes the trial's input and entry, and "
        "what the trial did (its last agent, its answer's start) as its first expectations, "
        "to edit.",
        request=PolymorphicProxySerializer(
            "BehaviourCaseCreate",
            serializers=[BehaviourCaseSerializer, CaseFromTrialSerializer],
            resource_type_field_name=None,
        ),
        responses={201: BehaviourCaseSerializer, **authed_errors(400, 409)},
    )
    def post(self, request: Request, project_id: uuid.UUID) -> Response:
        project = _project(request, project_id)
        data = request.data
        if isinstance(data, dict) and "from_trial" in data:
            body = validated_body(request, CaseFromTrialSerializer)
            trial = Trial.objects.filter(id=body["from_trial"], project=project).first()
            if trial is None:
                raise ApiError(404, "No such trial in this project (from_trial).")
            data = {
                "name": body["name"],
                "input": trial.input,
                "entry": trial.entry,
                "expectations": expectations.starting_expectations(
                    trial.final_output, trial.last_agent
                ),
                "in_loop": body["in_loop"],
            }
        serializer = BehaviourCaseSerializer(data=data, context={"project": project})
        serializer.is_valid(raise_exception=True)
        try:
            case = serializer.save(project=project)
        except IntegrityError:
            # Two requests raced for the name.
            raise ApiError(409, duplicate_case_name(serializer.validated_data["name"])) from None
        return Response(BehaviourCaseSerializer(case).data, status=status.HTTP_201_CREATED)


class CaseView(APIView):
    @extend_schema(
        summary="A behaviour case", responses={200: BehaviourCaseSerializer, **authed_errors()}
    )
    def get(self, request: Request, case_id: uuid.UUID) -> Response:
        return Response(BehaviourCaseSerializer(_case(request, case_id)).data)

    @extend_schema(
        summary="Change a behaviour case (a change to what it runs or checks bumps its version)",
        request=BehaviourCaseSerializer,
        responses={200: BehaviourCaseSerializer, **authed_errors(400, 409)},
    )
    def patch(self, request: Request, case_id: uuid.UUID) -> Response:
        case = _case(request, case_id)
        serializer = BehaviourCaseSerializer(
            case, data=request.data, partial=True, context={"project": case.project}
        )
        serializer.is_valid(raise_exception=True)
        try:
            case = serializer.save()
        except IntegrityError:
            # Two requests raced for the name.
            raise ApiError(409, duplicate_case_name(serializer.validated_data["name"])) from None
        return Response(BehaviourCaseSerializer(case).data)

    @extend_schema(summary="Delete a behaviour case", responses={204: None, **authed_errors()})
    def delete(self, request: Request, case_id: uuid.UUID) -> Response:
        _case(request, case_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class CaseRunView(AsyncAPIView):
    @extend_schema(
        summary="Run a case on the project's current code (202 at once)",
        description="Its `case_result` (side `head`) arrives on the WebSocket; the case's "
        "`latest_result` shows it then. 409 while it runs.",
        request=None,
        responses={
            202: inline_serializer("CaseRunStarted", {"case_id": serializers.UUIDField()}),
            **authed_errors(409),
        },
    )
    async def post(self, request: Request, case_id: uuid.UUID) -> Response:
        await in_thread(_case)(request, case_id)
        try:
            await head_cases.start(case_id)
        except head_cases.CaseRunning as exc:
            raise ApiError(409, str(exc)) from None
        return Response({"case_id": str(case_id)}, status=202)


def _owned_diff(request: Request, diff_id: uuid.UUID) -> Diff:
    diff = owned_diffs(api_user(request)).filter(id=diff_id).first()
    if diff is None:
        raise ApiError(404, "No such diff.")
    return diff


class DiffCasesView(APIView):
    @extend_schema(
        summary="The diff's behaviour cases on its base and patched code, and the outcome",
        responses={200: DiffCaseRowSerializer(many=True), **authed_errors()},
    )
    def get(self, request: Request, diff_id: uuid.UUID) -> Response:
        return Response(reads.diff_table(_owned_diff(request, diff_id)))


class DiffCasesRunView(AsyncAPIView):
    @extend_schema(
        summary="Run the project's behaviour cases on the diff's base and patched code (202)",
        description="Each result arrives as `case_result`; a base result of the same commit "
        "and case version is reused. When all have run, `GET /api/diffs/{id}/cases` and "
        "the diff's `behaviour_results` hold them. 409: no cases, or they are running.",
        request=None,
        responses={
            202: inline_serializer(
                "DiffCasesStarted",
                {
                    "diff_id": serializers.UUIDField(),
                    "cases": inline_serializer(
                        "DiffCasesStartedItem",
                        {"id": serializers.UUIDField(), "name": serializers.CharField()},
                        many=True,
                    ),
                },
            ),
            **authed_errors(409),
        },
    )
    async def post(self, request: Request, diff_id: uuid.UUID) -> Response:
        diff = await in_thread(_owned_diff)(request, diff_id)
        try:
            cases = await diff_cases.start(diff)
        except (diff_cases.NoCases, diff_cases.CasesRunning) as exc:
            raise ApiError(409, str(exc)) from None
        return Response(
            {"diff_id": str(diff.id), "cases": [{"id": str(c.id), "name": c.name} for c in cases]},
            status=202,
        )
