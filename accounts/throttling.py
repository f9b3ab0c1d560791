"""Password guessing is throttled by django-axes (settings: `LOGIN_FAILURE_LIMIT`,
`LOGIN_LOCKOUT_SECONDS`).

Why django-axes rather than DRF throttles: it counts only *failed* logins, per
username and per IP separately, through Django's own `user_login_failed` signal, so
the API token endpoint, the `/login/` page and the admin's login are covered by one
mechanism without a rate that also slows a person who types the password right.
DRF's throttles count every request and only on DRF views; the login page would need a
second, hand-written copy. Axes keeps its counters in Django's cache (Redis when
`REDIS_URL` is set), so every server process sees the same counts.

This module gives axes the two things it lacks: a 429 that carries `Retry-After`
(JSON under `/api/`, the login page with the wait otherwise) and the client's address
behind a proxy that names it in a header (`CLIENT_IP_HEADER`).
"""

import math
from datetime import timedelta
from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def failure_limit(request: HttpRequest, credentials: Any = None) -> int:
    """Axes' AXES_FAILURE_LIMIT: the failure that locks out (it answers 429 itself)."""
    return int(settings.LOGIN_FAILURE_LIMIT)


def cool_off(request: HttpRequest | None = None) -> timedelta:
    """Axes' AXES_COOLOFF_TIME: how long a lockout (and a failure count) lasts."""
    return timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)


def lockout_seconds(request: HttpRequest | None = None) -> int:
    cool_off = get_cool_off(request)
    return math.ceil(cool_off.total_seconds()) if cool_off else 0


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """Axes' AXES_LOCKOUT_CALLABLE: the answer to a login attempt while locked out.

    Every attempt during the lockout restarts it (axes'
    `AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT`), so the full cool-off is the wait.
    """
    seconds = lockout_seconds(request)
    message = f"Too many failed logins: try again in {seconds} seconds."
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=429)
    else:
        response = render(
            request,
            "registration/login.html",
            {"locked_out": message, "next": request.POST.get("next", "")},
            status=429,
        )
    response["Retry-After"] = str(seconds)
    return response


def client_ip(request: HttpRequest) -> str | None:
    """Axes' AXES_CLIENT_IP_CALLABLE: the proxy's header when configured, else the peer."""
    header = settings.CLIENT_IP_HEADER
    if header:
        value = request.headers.get(header, "").split(",")[0].strip()
        if value:
            return value
    return request.META.get("REMOTE_ADDR")
