"""Projects API: thin views over `projects.services` and `projects.git`."""

import uuid

from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import git, services
from projects.nodes import find_agents
from projects.serializers import (
    CommitSerializer,
    NodeSerializer,
    ProjectCreateSerializer,
    ProjectDetailSerializer,
    ProjectSerializer,
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
        return Response(ProjectDetailSerializer(project).data, status=status.HTTP_201_CREATED)


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


class ProjectNodesView(APIView):
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = services.get_owned_project(api_user(request), project_id)
        try:
            nodes = find_agents(project.current_code)
        except ValueError as exc:
            raise ValidationError({"detail": f"The code does not parse: {exc}"}) from None
        return Response(NodeSerializer(nodes, many=True).data)
