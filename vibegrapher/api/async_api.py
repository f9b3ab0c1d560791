"""Helpers shared by the API's views, sync (DRF's APIView) and async (adrf's APIView).

Endpoints that start a vibecode run must be `async def` so the run's task lands on
the server's event loop. They are adrf views: DRF's authentication (token, or
session with CSRF), parsers, throttles, error shapes and schema generation, with an
`async def` handler (bench/async_views.py compares it with the hand-made async
stack it replaced).
"""

import contextlib
from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest
from django.http.request import RawPostDataException
from rest_framework import serializers
from rest_framework.request import Request

from vibegrapher.api.api_errors import ApiError

__all__ = ["ApiError", "api_user", "validated_body"]


def validated_body(request: Request, serializer_class: type[serializers.Serializer]) -> Any:
    """The validated JSON body, or DRF's 400 naming the fields.

    Reads the body through Django first, so that DATA_UPLOAD_MAX_MEMORY_SIZE holds
    (a 413) even where the ASGI body limit does not stand in front of the app; DRF
    alone would stream any size into its parser.
    """
    # A cookie request's CSRF check has DRF parse the body already (it reads POST).
    with contextlib.suppress(RawPostDataException):
        request._request.body  # noqa: B018 (read for its size check)
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


def api_user(request: HttpRequest) -> User:
    """The authenticated user of an API view (its permission classes already required one)."""
    user = request.user
    if not isinstance(user, User):
        raise ApiError(401, "Authentication credentials were not provided.")
    return user
