"""Projects API: thin views over `projects.services` and `projects.git`."""

import tempfile
import uuid
from pathlib import Path

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import git, services
from projects.graph import build_graph
from projects.models import Project, TestCase
from projects.nodes import find_agents
from projects.serializers import (
    CommitSerializer,
    NodeSerializer,
    ProjectCreateSerializer,
    ProjectDetailSerializer,
    ProjectSerializer,
    TestCaseSerializer,
    duplicate_test_name,
)
from vibegrapher.async_api import api_user


class ProjectListView(APIView):
    def get(self, request: Request) -> Response:
        projects = api_user(request).projects.all()
        return Response(ProjectSerializer(projects, many=True).data)

    def post(self, request: Request) -> Response:
        body = ProjectCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        project = services.create_project(
            api_user(request),
            body.validated_data["name"],
            body.validated_data.get("code"),
        )
        # The new workflow's graph at once, unresolved names included.
        data = {
            **ProjectDetailSerializer(project).data,
            "graph": build_graph(project.current_code).as_dict(),
        }
        return Response(data, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = services.get_owned_project(api_user(request), project_id)
        return Response(ProjectDetailSerializer(project).data)

    def delete(self, request: Request, project_id: uuid.UUID) -> Response:
        project = services.get_owned_project(api_user(request), project_id)
        services.delete_project(project)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectCommitsView(APIView):
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = services.get_owned_project(api_user(request), project_id)
        commits = git.history(project.slug)
        return Response(CommitSerializer(commits, many=True).data)


class ProjectExportView(APIView):
    """The project's repository as a git bundle (`git clone project.bundle`)."""

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
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = services.get_owned_project(api_user(request), project_id)
        try:
            nodes = find_agents(project.current_code)
        except ValueError as exc:
            raise ValidationError({"detail": f"The code does not parse: {exc}"}) from None
        return Response(NodeSerializer(nodes, many=True).data)


def _save_test_case(body: TestCaseSerializer, **extra: object) -> TestCase:
    try:
        with transaction.atomic():
            return body.save(**extra)
    except IntegrityError:  # a concurrent request took the name after validation
        name = body.validated_data.get("name", "")
        raise ValidationError({"name": [duplicate_test_name(name)]}) from None


class ProjectTestCasesView(APIView):
    quick_only = False

    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = services.get_owned_project(api_user(request), project_id)
        tests = project.test_cases.order_by("created_at", "name")
        if self.quick_only:
            tests = tests.filter(quick_test=True)
        return Response(TestCaseSerializer(tests, many=True).data)

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

    def get(self, request: Request, test_id: uuid.UUID) -> Response:
        test_case = _owned_test_case(request, test_id)
        return Response(TestCaseSerializer(test_case).data)

    def patch(self, request: Request, test_id: uuid.UUID) -> Response:
        test_case = _owned_test_case(request, test_id)
        project: Project = test_case.project
        body = TestCaseSerializer(
            test_case, data=request.data, partial=True, context={"project": project}
        )
        body.is_valid(raise_exception=True)
        return Response(TestCaseSerializer(_save_test_case(body)).data)

    def delete(self, request: Request, test_id: uuid.UUID) -> Response:
        _owned_test_case(request, test_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
