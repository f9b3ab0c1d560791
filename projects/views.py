"""Projects API: thin views over `projects.services` and `projects.git`."""

import tempfile
import uuid
from pathlib import Path

from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import git, reads, services
from projects.graph.reader import build_graph
from projects.graph.schema import GraphSerializer
from projects.models import Project, TestCase
from projects.nodes import find_agents
from projects.sample_workflow import STARTER_CODE
from projects.serializers import (
    CommitSerializer,
    NodeSerializer,
    ProjectCreateSerializer,
    ProjectDetailSerializer,
    ProjectSerializer,
    TestCaseSerializer,
    duplicate_test_name,
    represent_projects,
)
from vibegrapher.async_api import ApiError, api_user
from vibegrapher.pagination import (
    keyset_page,
    page_body,
    paginated,
    row_page,
    row_position,
    sequence_page,
)
from vibegrapher.schema import COMMIT_PAGE_PARAMETERS, PAGE_PARAMETERS, authed_errors, errors


class CreatedProjectSerializer(ProjectDetailSerializer):
    graph = GraphSerializer(read_only=True, help_text="The new workflow's graph.")

    class Meta(ProjectDetailSerializer.Meta):
        fields = [*ProjectDetailSerializer.Meta.fields, "graph"]
        read_only_fields = fields


class ProjectListView(APIView):
    @extend_schema(
        summary="Your projects, newest first",
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(ProjectSerializer, "ProjectPage"), **errors(400, 401)},
    )
    def get(self, request: Request) -> Response:
        user = api_user(request)
        limit, after = row_position(request)
        rows = reads.project_page(user.pk, limit + 1, after)
        page, next_page = row_page(request, rows, limit)
        return Response(page_body(represent_projects(page, user.get_username()), next_page))

    @extend_schema(
        summary="Create a project (from the starter workflow, or from `code`)",
        request=ProjectCreateSerializer,
        responses={201: CreatedProjectSerializer, **errors(400, 401, 413)},
    )
    def post(self, request: Request) -> Response:
        body = ProjectCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        code = body.validated_data.get("code")
        # The new workflow's graph, unresolved names included, read before anything is
        # made: nothing after the creation can fail and leave a project behind a 500.
        graph = build_graph(STARTER_CODE if code is None else code).as_dict()
        project = services.create_project(api_user(request), body.validated_data["name"], code)
        data = {**ProjectDetailSerializer(project).data, "graph": graph}
        return Response(data, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    @extend_schema(responses={200: ProjectDetailSerializer, **authed_errors()})
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        user = api_user(request)
        row = reads.owned_project(user.pk, project_id)
        if row is None:
            raise Http404(services.NO_SUCH_PROJECT)
        return Response(represent_projects([row], user.get_username())[0])

    @extend_schema(
        summary="Delete a project, its repository and everything in it",
        responses={204: None, **authed_errors()},
    )
    def delete(self, request: Request, project_id: uuid.UUID) -> Response:
        project = services.get_owned_project(api_user(request), project_id)
        services.delete_project(project)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectCommitsView(APIView):
    @extend_schema(
        summary="The repository's history (main), newest first",
        description="The page's `next` carries the sha of its last commit as `cursor`.",
        parameters=COMMIT_PAGE_PARAMETERS,
        responses={200: paginated(CommitSerializer, "CommitPage"), **authed_errors(400)},
    )
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = services.get_owned_project(api_user(request), project_id)

        def read(after: str | None, count: int) -> list[git.CommitInfo]:
            try:
                return git.history(project.slug, limit=count, after=after)
            except git.UnknownCommit as exc:
                # A well-formed sha that names no commit here: nothing to start after.
                raise ApiError(404, str(exc)) from None

        page, next_page = sequence_page(request, read, key=lambda commit: commit.sha)
        return Response(page_body(CommitSerializer(page, many=True).data, next_page))


class ProjectExportView(APIView):
    """The project's repository as a git bundle (`git clone project.bundle`)."""

    lane = "export"  # `git bundle` in a subprocess

    @extend_schema(
        summary="The project's repository as a git bundle (`git clone project.bundle`)",
        responses={
            (200, "application/x-git-bundle"): OpenApiTypes.BINARY,
            **authed_errors(503),
        },
    )
    def get(self, request: Request, project_id: uuid.UUID) -> HttpResponse:
        project = services.get_owned_project(api_user(request), project_id)
        with tempfile.TemporaryDirectory(prefix="vibegrapher-bundle-") as scratch:
            bundle = Path(scratch) / f"{project.slug}.bundle"
            git.export_bundle(project.slug, bundle)
            content = bundle.read_bytes()
        response = HttpResponse(content, content_type="application/x-git-bundle")
        response["Content-Disposition"] = f'attachment; filename="{project.slug}.bundle"'
        return response


class ProjectNodesView(APIView):
    @extend_schema(
        summary="The agents defined in the project's file (for node sessions)",
        responses={200: NodeSerializer(many=True), **authed_errors(400)},
    )
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = services.get_owned_project(api_user(request), project_id)
        try:
            nodes = find_agents(project.current_code)
        except ValueError as exc:
            raise ApiError(400, f"The code does not parse: {exc}") from None
        return Response(NodeSerializer(nodes, many=True).data)


def _save_test_case(body: TestCaseSerializer, **extra: object) -> TestCase:
    try:
        with transaction.atomic():
            return body.save(**extra)
    except IntegrityError:  # a concurrent request took the name after validation
        name = body.validated_data.get("name", "")
        raise ApiError(409, duplicate_test_name(name)) from None


class ProjectTestCasesView(APIView):
    quick_only = False

    @extend_schema(
        summary="The project's test cases, oldest first",
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(TestCaseSerializer, "TestCasePage"), **authed_errors(400)},
    )
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = services.get_owned_project(api_user(request), project_id)
        tests = project.test_cases.all()
        if self.quick_only:
            tests = tests.filter(quick_test=True)
        page, next_page = keyset_page(request, tests, direction="oldest_first")
        return Response(page_body(TestCaseSerializer(page, many=True).data, next_page))

    @extend_schema(
        summary="Add a test case (names are unique per project)",
        request=TestCaseSerializer,
        responses={201: TestCaseSerializer, **authed_errors(400, 409, 413)},
    )
    def post(self, request: Request, project_id: uuid.UUID) -> Response:
        project = services.get_owned_project(api_user(request), project_id)
        body = TestCaseSerializer(data=request.data, context={"project": project})
        body.is_valid(raise_exception=True)
        test_case = _save_test_case(body, project=project)
        return Response(TestCaseSerializer(test_case).data, status=status.HTTP_201_CREATED)


def _owned_test_case(request: Request, test_id: uuid.UUID) -> TestCase:
    owned = TestCase.objects.filter(project__owner=api_user(request)).select_related("project")
    test_case = owned.filter(id=test_id).first()
    if test_case is None:
        raise NotFound("No such test case.")
    return test_case


class TestCaseDetailView(APIView):
    __test__ = False

    @extend_schema(responses={200: TestCaseSerializer, **authed_errors()})
    def get(self, request: Request, test_id: uuid.UUID) -> Response:
        test_case = _owned_test_case(request, test_id)
        return Response(TestCaseSerializer(test_case).data)

    @extend_schema(
        summary="Change a test case's name, code or quick flag",
        request=TestCaseSerializer(partial=True),
        responses={200: TestCaseSerializer, **authed_errors(400, 409, 413)},
    )
    def patch(self, request: Request, test_id: uuid.UUID) -> Response:
        test_case = _owned_test_case(request, test_id)
        project: Project = test_case.project
        body = TestCaseSerializer(
            test_case, data=request.data, partial=True, context={"project": project}
        )
        body.is_valid(raise_exception=True)
        return Response(TestCaseSerializer(_save_test_case(body)).data)

    @extend_schema(responses={204: None, **authed_errors()})
    def delete(self, request: Request, test_id: uuid.UUID) -> Response:
        _owned_test_case(request, test_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
