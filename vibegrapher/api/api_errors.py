"""Every answer under /api/ is JSON in DRF's shape ({"detail": ...}), errors included.

- `exception_handler` (REST_FRAMEWORK's EXCEPTION_HANDLER) is DRF's, plus Django's
  SuspiciousOperation family (a body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413; others:
  400), which DRF would leave to Django's HTML pages. The async views use it too.
- `not_found` is the last /api/ route: an unknown path, a trailing slash or an id that
  is not a UUID is a JSON 404, whatever the method.
- `server_error` (handler500) answers JSON under /api/ when DEBUG is off.
"""

from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApiError(Exception):
    """An error answered as JSON with a status: `detail` is the body when it is a dict,
    else `{"detail": detail}`. Unlike DRF's APIException, the body is sent as given
    (a None stays null)."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail

    def body(self) -> dict[str, Any]:
        return self.detail if isinstance(self.detail, dict) else {"detail": self.detail}

    def response(self) -> JsonResponse:
        return JsonResponse(self.body(), status=self.status)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApiError):
        return Response(exc.body(), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": f"The request body is too large: {exc}"}, status=413)
    if isinstance(exc, SuspiciousOperation):
        return Response({"detail": f"Bad request: {exc}"}, status=400)
    return drf_exception_handler(exc, context)


def as_json_response(response: Response) -> JsonResponse:
    """A DRF error Response as a plain JsonResponse (for views outside DRF)."""
    data = response.data if isinstance(response.data, dict | list) else {"detail": response.data}
    answer = JsonResponse(data, status=response.status_code, safe=False)
    for header, value in response.headers.items():
        if header.lower() not in ("content-type", "content-length"):
            answer[header] = value
    return answer


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    return JsonResponse(
        {"detail": f"No API endpoint at {request.path}. Paths have no trailing slash and "
                   "ids are UUIDs."},
        status=404,
    )  # fmt: skip


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)
