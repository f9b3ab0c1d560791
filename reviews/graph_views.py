"""`GET /api/diffs/{id}/graph`: the graph before and after a proposed change, and the change."""

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import git
from projects.graph import service as graph_service
from projects.graph.schema import graph_answer
from projects.graph_views import FORMAT, FormatIsOurs, output_format
from reviews import services
from reviews.models import Diff
from vibegrapher.api_errors import ApiError
from vibegrapher.async_api import api_user
from vibegrapher.schema import authed_errors


def diff_graph_of(diff: Diff) -> graph_service.DiffGraph:
    """Raises GitError when the base commit is gone, ValueError when a side does not parse."""
    base = git.read_file_at(diff.project.slug, diff.project.main_file, diff.base_commit)
    return graph_service.diff_graph(base, diff.patched_code)


class DiffGraphView(APIView):
    content_negotiation_class = FormatIsOurs
    lane = "graph"  # two graphs read, and `?format=svg` a Graphviz layout

    @extend_schema(
        summary="The graph before and after the change, and the change",
        parameters=[FORMAT],
        responses={200: OpenApiResponse(graph_answer("DiffGraph")), **authed_errors(400, 503)},
    )
    def get(self, request: Request, diff_id: uuid.UUID) -> Response:
        diff = services.owned_diffs(api_user(request)).filter(id=diff_id).first()
        if diff is None:
            raise NotFound("No such diff.")
        output = output_format(request)
        try:
            graphs = diff_graph_of(diff)
        except git.GitError as exc:
            raise NotFound(f"The diff's base is not in the repository: {exc}") from None
        except ValueError as exc:
            raise ApiError(400, f"The code does not parse: {exc}") from None
        data = {"diff_id": str(diff.id), "base_commit": diff.base_commit, **graphs.as_dict()}
        return Response(graph_service.render(graphs.drawing(), output, data))
