"""Password guessing is throttled by django-axes (settings: `LOGIN_FAILURE_LIMIT`,
`LOGIN_ADDRESS_FAILURE_LIMIT`, `LOGIN_LOCKOUT_SECONDS`).

Why django-axes rather than DRF throttles: it counts only *failed* logins, through
Django's own `user_login_failed` signal, so the API token endpoint, the `/login/` page
and the admin's login are covered by one mechanism without a rate that also slows a
person who types the password right. DRF's throttles count every request and only on
DRF views; the login page would need a second, hand-written copy. Axes keeps its
counters in Django's cache (Redis when `REDIS_URL` is set, vibegrapher/lib/cache.py), so
every server process sees the same counts.

Failures are counted per (username, client address) and per client address, never per
username alone: whoever knows a username could otherwise lock its owner out from
anywhere. Axes has one failure limit for all its counters; `LoginFailureHandler` gives
the per-address counter its own, larger one, which stops one address guessing a little
at many accounts.

This module also gives axes a 429 that carries `Retry-After` (JSON under `/api/`, the
login page with the wait otherwise) and the client's address behind a proxy that names
it in a header (`CLIENT_IP_HEADER`).
"""

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from axes.handlers.cache import AxesCacheHandler
from axes.helpers import (
    get_cache,
    get_cache_timeout,
    get_client_ip_address,
    get_client_parameters,
    get_client_str,
    get_client_user_agent,
    get_client_username,
    get_cool_off,
)
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.core.cache.backends.base import BaseCache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)


def failure_limit(request: HttpRequest | None = None, credentials: Any = None) -> int:
    """Axes' AXES_FAILURE_LIMIT: the failure for one (username, address) that locks out."""
    return int(settings.LOGIN_FAILURE_LIMIT)


def address_failure_limit() -> int:
    """The failure from one address, whatever the usernames, that locks it out."""
    return int(settings.LOGIN_ADDRESS_FAILURE_LIMIT)


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
    Only the locked (username, address) pair or address waits: nobody else.
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


@dataclass(frozen=True)
class Counter:
    """One failed-login count: its cache key, its limit, what it counts by."""

    key: str
    limit: int
    parameters: dict[str, str | None]


def counters(
    username: str | None,
    ip_address: str | None,
    user_agent: str | None,
    request_or_attempt: Any,
    credentials: dict[str, Any] | None = None,
) -> list[Counter]:
    """The counters a login attempt adds to, one per entry of AXES_LOCKOUT_PARAMETERS.

    One that includes the username has `LOGIN_FAILURE_LIMIT`; one by address alone
    `LOGIN_ADDRESS_FAILURE_LIMIT`.
    """
    found = []
    for parameters in get_client_parameters(
        username, ip_address, user_agent, request_or_attempt, credentials
    ):
        # Axes joins the values without a separator, so ("a", "11.1.1.1") and
        # ("a1", "1.1.1.1") would share a count; JSON keeps them apart.
        encoded = json.dumps(sorted(parameters.items())).encode()
        found.append(
            Counter(
                key=f"login-failures:{hashlib.sha256(encoded).hexdigest()}",
                limit=failure_limit() if "username" in parameters else address_failure_limit(),
                parameters=parameters,
            )
        )
    return found


class LoginFailureHandler(AxesCacheHandler):
    """Axes' cache handler with a limit per counter (`counters`).

    A login is refused while any of its counters is at its limit.
    """

    def __init__(self) -> None:
        # Axes keeps the cache it found at start; Django's caches are per thread (and
        # change under tests' settings overrides), so this handler looks it up each time.
        pass

    @property
    def cache(self) -> BaseCache:
        return get_cache()

    def _counters(self, request: HttpRequest, credentials: dict[str, Any] | None) -> list[Counter]:
        return counters(
            get_client_username(request, credentials),
            get_client_ip_address(request),
            get_client_user_agent(request),
            request,
            credentials,
        )

    def _counts(self, found: list[Counter]) -> dict[str, int]:
        return {
            key: int(count)
            for key, count in self.cache.get_many([counter.key for counter in found]).items()
        }

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        return max(self._counts(self._counters(request, credentials)).values(), default=0)

    def is_locked(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
        found = self._counters(request, credentials)
        counts = self._counts(found)
        return any(counts.get(counter.key, 0) >= counter.limit for counter in found)

    def user_login_failed(
        self,
        sender: Any,
        credentials: dict[str, Any],
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        """Count the failure in each counter; at any limit, lock out (axes' 429)."""
        if request is None:
            return  # not a network login (LoginLockoutBackend lets these through)
        if self.is_whitelisted(request, credentials):
            return
        username = get_client_username(request, credentials)
        timeout = get_cache_timeout(request)
        locked = reached = False
        for counter in self._counters(request, credentials):
            if self.cache.add(counter.key, 1, timeout):
                count = 1
            else:
                count = self.cache.incr(counter.key)
                self.cache.touch(counter.key, timeout)
            locked = locked or count >= counter.limit
            reached = reached or count == counter.limit
        if not locked:
            return
        if reached:  # once per lockout, not for every attempt during it
            logger.warning(
                "login: locking out %s after repeated failures",
                get_client_str(
                    username,
                    request.axes_ip_address,  # type: ignore[attr-defined]
                    request.axes_user_agent,  # type: ignore[attr-defined]
                    request.axes_path_info,  # type: ignore[attr-defined]
                    request,
                ),
            )
        request.axes_locked_out = True  # type: ignore[attr-defined]
        request.axes_credentials = credentials  # type: ignore[attr-defined]
        user_locked_out.send(
            "axes",
            request=request,
            username=username,
            ip_address=request.axes_ip_address,  # type: ignore[attr-defined]
        )

    def reset_attempts(
        self,
        *,
        ip_address: str | None = None,
        username: str | None = None,
        ip_or_username: bool = False,
    ) -> int:
        """Clear the counters made of the values given; how many there were.

        `manage.py axes_reset_ip ADDRESS` clears the address's own counter;
        `axes_reset_ip_username ADDRESS USERNAME` that pair's counter too. A username
        alone names no counter.
        """
        attempt = AccessAttempt(username=username, ip_address=ip_address)
        named = [
            counter
            for counter in counters(username, ip_address, None, attempt)
            if all(counter.parameters.values())
        ]
        return sum(bool(self.cache.delete(counter.key)) for counter in named)
