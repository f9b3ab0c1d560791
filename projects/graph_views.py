"""`GET /api/projects/{id}/graph`: the workflow's graph, at HEAD or at a commit."""

import uuid
from types import SimpleNamespace

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import services
from projects.graph import service as graph_service
from projects.graph.reader import build_graph
from projects.graph.schema import graph_answer
from vibegrapher.api_errors import ApiError
from vibegrapher.async_api import api_user
from vibegrapher.schema import authed_errors

FORMAT = OpenApiParameter(
    "format",
    str,
    enum=list(graph_service.FORMATS),
    description="json (the default): the graph itself; mermaid: a Mermaid flowchart; "
    "svg: the drawing (Graphviz).",
)


class FormatIsOurs(DefaultContentNegotiation):
    """`?format=` chooses the graph's drawing here (json, mermaid, svg), not DRF's
    renderer: the answer is always JSON."""

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=None)  # type: ignore[assignment]


def output_format(request: Request) -> str:
    output = request.query_params.get("format", "json")
    if output not in graph_service.FORMATS:
        raise ValidationError(
            {"format": [f"format must be one of {', '.join(graph_service.FORMATS)}."]}
        )
    return output


class ProjectGraphView(APIView):
    content_negotiation_class = FormatIsOurs
    # Reading a large file's graph takes CPU, and `?format=svg` a Graphviz layout.
    lane = "graph"

    @extend_schema(
        summary="The workflow's graph, at HEAD or at a commit",
        parameters=[
            FORMAT,
            OpenApiParameter(
                "ref",
                {"type": "string", "pattern": graph_service.REF_PATTERN},
                description="A commit sha (4 to 40 hex digits; 404 when no commit has it); "
                "HEAD when absent or empty.",
            ),
        ],
        responses={
            200: OpenApiResponse(graph_answer("ProjectGraph")),
            **authed_errors(400, 404, 503),
        },
    )
    def get(self, request: Request, project_id: uuid.UUID) -> Response:
        project = services.get_owned_project(api_user(request), project_id)
        output = output_format(request)
        try:
            code, commit = graph_service.code_at(project, request.query_params.get("ref"))
        except graph_service.BadRef as exc:
            raise ValidationError({"ref": [str(exc)]}) from None
        except graph_service.UnknownRef as exc:
            raise NotFound(str(exc)) from None
        try:
            graph = build_graph(code)
        except ValueError as exc:
            raise ApiError(400, f"The code does not parse: {exc}") from None
        data = {"ref": commit, "main_file": project.main_file, **graph.as_dict()}
        drawing = graph_service.project_drawing(graph)
        return Response(graph_service.render(drawing, output, data))
