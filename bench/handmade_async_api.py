"""Frozen copy of the hand-made async view stack the app used before adrf, kept
for bench/async_views.py to measure against. Not used by the app.

Plain async Django views that behave like the DRF API.

Endpoints that start a vibecode run must be `async def` so the run's task lands on
the server's event loop (DRF views are synchronous). This module gives them the
API's authentication (token or session with CSRF), JSON body parsing with DRF
serializers, and DRF-shaped errors, so a client cannot tell them apart.
"""

import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, cast

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.settings import api_settings

from accounts.tokens import afind_token
from vibegrapher.api import json_body
from vibegrapher.api.api_errors import as_json_response

P = ParamSpec("P")


class ApiError(Exception):
    """An error answered as JSON with a status, like DRF's APIException."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail

    def response(self) -> JsonResponse:
        body = self.detail if isinstance(self.detail, dict) else {"detail": self.detail}
        return JsonResponse(body, status=self.status)


def _csrf_failure(request: HttpRequest) -> str | None:
    def no_response(_: HttpRequest) -> HttpResponse:
        return HttpResponse()

    check = CsrfViewMiddleware(no_response)
    check.process_request(request)
    rejected = check.process_view(request, None, (), {})  # type: ignore[arg-type]
    if rejected is None:
        return None
    return "CSRF Failed: send the csrftoken cookie's value in the X-CSRFToken header."


async def authenticate(request: HttpRequest) -> User:
    """The user of a token (`Authorization: Token …`) or of the Django session."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "token" or not key.strip():
            raise ApiError(401, "Invalid Authorization header: expected 'Token <key>'.")
        token = await afind_token(key.strip())
        if token is None:
            raise ApiError(401, "Invalid or expired token.")
        return token.user
    user = await request.auser()
    if isinstance(user, AnonymousUser) or not isinstance(user, User):
        raise ApiError(401, "Authentication credentials were not provided.")
    if request.method not in ("GET", "HEAD", "OPTIONS") and (failure := _csrf_failure(request)):
        raise ApiError(403, failure)
    return user


def parse_body(request: HttpRequest, serializer_class: type[serializers.Serializer]) -> Any:
    """The validated data of a JSON body, or an ApiError with DRF's field errors."""
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise ApiError(413, f"The request body is too large: {exc}") from None
    if body:
        try:
            data = json_body.loads(body)
        except ValueError as exc:  # UnicodeDecodeError and JSONTooDeep included
            raise ApiError(400, f"JSON parse error - {exc}") from None
    else:
        data = {}
    if not isinstance(data, dict):
        raise ApiError(400, "Expected a JSON object.")
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise ApiError(400, serializer.errors)
    return serializer.validated_data


def async_api_view(
    *methods: str,
) -> Callable[
    [Callable[Concatenate[HttpRequest, User, P], Coroutine[Any, Any, HttpResponse]]],
    Callable[Concatenate[HttpRequest, P], Coroutine[Any, Any, HttpResponse]],
]:
    """Wrap `view(request, user, **kwargs)`: method check, authentication, ApiError -> JSON."""

    def decorator(
        view: Callable[Concatenate[HttpRequest, User, P], Coroutine[Any, Any, HttpResponse]],
    ) -> Callable[Concatenate[HttpRequest, P], Coroutine[Any, Any, HttpResponse]]:
        @functools.wraps(view)
        async def wrapped(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
            if request.method not in methods:
                return JsonResponse(
                    {"detail": f'Method "{request.method}" not allowed.'}, status=405
                )
            try:
                user = await authenticate(request)
                return await view(request, user, *args, **kwargs)
            except ApiError as exc:
                return exc.response()
            except Exception as exc:
                # Http404, PermissionDenied, DRF's APIExceptions...: the same JSON as
                # a DRF view gives; anything else is a server error, raised on.
                handler = cast(
                    Callable[[Exception, dict[str, Any]], Response | None],
                    api_settings.EXCEPTION_HANDLER,
                )
                response = handler(exc, {"request": request})
                if response is None:
                    raise
                return as_json_response(response)

        # CSRF is enforced in `authenticate` for session users only, as DRF does.
        return csrf_exempt(wrapped)

    return decorator


def api_user(request: HttpRequest) -> User:
    """The authenticated user of a DRF view (its permission classes already required one)."""
    user = request.user
    if not isinstance(user, User):
        raise ApiError(401, "Authentication credentials were not provided.")
    return user
