"""The API that runs a project's tests: on a diff (answers at once, results follow on
the WebSocket and on the diff) and on the project's current code (answers with them).
Async views (adrf): a diff's run is a task on the server's event loop."""

import uuid
from dataclasses import asdict

from adrf.views import APIView as AsyncAPIView
from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from projects.models import Project
from projects.services import NO_SUCH_PROJECT
from reviews.models import Diff
from reviews.services import owned_diffs
from testruns import diff_tests, head_tests, sandbox
from testruns.serializers import HeadTestRunSerializer, TestRunSerializer
from vibegrapher.async_api import ApiError, api_user, validated_body
from vibegrapher.schema import authed_errors


async def _owned_diff(user: User, diff_id: uuid.UUID) -> Diff:
    diff = await owned_diffs(user).filter(id=diff_id).afirst()
    if diff is None:
        raise ApiError(404, "No such diff.")
    return diff


class DiffTestsView(AsyncAPIView):
    @extend_schema(
        summary="Run the project's tests on the patched file (202 at once)",
        description="Each test's `test_status` and `test_completed` arrive on the "
        "WebSocket; the results are kept on the diff (`test_results`).",
        request=TestRunSerializer,
        responses={
            202: inline_serializer(
                "TestRunStarted",
                {
                    "diff_id": serializers.UUIDField(),
                    "quick_only": serializers.BooleanField(),
                    "tests": inline_serializer(
                        "TestRunItem",
                        {
                            "id": serializers.UUIDField(),
                            "name": serializers.CharField(),
                            "quick_test": serializers.BooleanField(),
                        },
                        many=True,
                    ),
                },
            ),
            **authed_errors(400, 409, 503),
        },
    )
    async def post(self, request: Request, diff_id: uuid.UUID) -> Response:
        diff = await _owned_diff(api_user(request), diff_id)
        quick_only = validated_body(request, TestRunSerializer)["quick_only"]
        try:
            run = await diff_tests.start_test_run(diff, quick_only=quick_only)
        except sandbox.SandboxUnavailable as exc:
            raise ApiError(503, f"Tests cannot run on this server: {exc}") from None
        except (diff_tests.NoTests, diff_tests.TestsRunning) as exc:
            raise ApiError(409, str(exc)) from None
        return Response(
            {
                "diff_id": str(run.diff_id),
                "quick_only": quick_only,
                "tests": [
                    {"id": str(test.id), "name": test.name, "quick_test": test.quick}
                    for test in run.tests
                ],
            },
            status=202,
        )


class HeadTestsView(AsyncAPIView):
    lane = "tests"  # waits for the sandboxed tests, up to their time limits

    @extend_schema(
        summary="Run the project's tests on its current code (HEAD); answers with the results",
        description="Nothing is stored: the answer carries the commit the tests ran on and "
        "each test's result. `test_id` runs one test; `quick_only` only the quick ones.",
        request=HeadTestRunSerializer,
        responses={
            200: inline_serializer(
                "HeadTestRun",
                {
                    "commit": serializers.CharField(),
                    "results": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **authed_errors(400, 404, 409, 503),
        },
    )
    async def post(self, request: Request, project_id: uuid.UUID) -> Response:
        user = api_user(request)
        project = await Project.objects.filter(id=project_id, owner=user).afirst()
        if project is None:
            raise ApiError(404, NO_SUCH_PROJECT)
        body = validated_body(request, HeadTestRunSerializer)
        try:
            run = await head_tests.run_against_head(
                project, quick_only=body["quick_only"], test_id=body.get("test_id")
            )
        except sandbox.SandboxUnavailable as exc:
            raise ApiError(503, f"Tests cannot run on this server: {exc}") from None
        except head_tests.NoTestsToRun as exc:
            raise ApiError(409 if body.get("test_id") is None else 404, str(exc)) from None
        return Response({"commit": run.commit, "results": [asdict(r) for r in run.results]})
