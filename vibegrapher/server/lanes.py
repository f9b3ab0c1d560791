"""Lanes: slow kinds of request run apart, so that they never hold a turn a fast read needs.

Sync requests take turns (`REQUEST_THREADS_RUNNING` at once per process,
vibegrapher/server/request_threads.py). A request that can take long — a password check
(PBKDF2, deliberately slow), a Graphviz layout, a git bundle, a test run
in the sandbox, a model call — would hold one of those few turns meanwhile, and every
other user's quick read would queue behind it. So a view says which lane its slow work
belongs to (`lane = "graph"`, or a function of the request when only some requests
are slow: `?format=svg`, a POST), and such a request waits for a turn of that lane
instead: each lane has its own running limit (`REQUEST_LANES`) and its own threads,
and the fast lane's turns are never held by it.

A lane is bounded twice, so that a flood of slow requests costs neither threads nor
memory without end, and no client waits forever: at most `LANE_WAITING` requests wait
for a lane's turn (one more is answered 503 at once), and a request that waited
`LANE_WAIT_SECONDS` without getting one is answered 503. Both carry `Retry-After`.
Waiting requests hold no thread: they wait on the event loop.
"""

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

LaneChoice = str | Callable[[HttpRequest], str | None]
View = TypeVar("View", bound=Callable[..., Any])

# What each lane's requests do, for the 503's message.
WORK = {
    "password": "checking passwords",
    "graph": "drawing graphs",
    "export": "exporting repositories",
    "tests": "running tests",
    "model": "waiting on the model",
}
# Retry-After of a 503 from a lane: the running limits are small and each lane's work
# takes seconds, so a few seconds is when a place is likely to be free.
RETRY_AFTER_SECONDS = 5


def in_lane(lane: LaneChoice) -> Callable[[View], View]:
    """Mark a function view (or an `as_view()`) as slow work of `lane`."""

    def mark(view: View) -> View:
        view.lane = lane  # type: ignore[attr-defined]
        return view

    return mark


def when_posted(lane: str) -> Callable[[HttpRequest], str | None]:
    """`lane` for a POST (a login form, a token request), the fast lane otherwise."""

    def choose(request: HttpRequest) -> str | None:
        return lane if request.method == "POST" else None

    return choose


def when_svg(lane: str) -> Callable[[HttpRequest], str | None]:
    """`lane` for `?format=svg` (a Graphviz layout), the fast lane for the graph's data."""

    def choose(request: HttpRequest) -> str | None:
        return lane if request.GET.get("format") == "svg" else None

    return choose


# Views this project does not write, by URL name: Django's login page and the admin's
# password forms hash a password on POST.
BY_URL_NAME: dict[str, LaneChoice] = {
    "login": when_posted("password"),
    "admin:login": when_posted("password"),
    "admin:password_change": when_posted("password"),
    "admin:auth_user_password_change": when_posted("password"),
}


def choice_of(view: Callable[..., Any], url_name: str | None = None) -> LaneChoice | None:
    """The lane a view declares: on the function, on its class (`as_view()`), or by its
    URL name in BY_URL_NAME."""
    if url_name in BY_URL_NAME:
        return BY_URL_NAME[url_name]
    choice = getattr(view, "lane", None)
    if choice is None:
        view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
        choice = getattr(view_class, "lane", None)
    return choice


def lane_for(choice: LaneChoice | None, request: HttpRequest) -> str | None:
    """The lane of this request (None: the fast lane)."""
    if choice is None or isinstance(choice, str):
        return choice
    return choice(request)


class LaneBusy(Exception):
    """No turn of the lane for this request: too many wait already, or it waited too long."""

    def __init__(self, lane: str, message: str) -> None:
        super().__init__(message)
        self.lane = lane

    def response(self, request: HttpRequest) -> HttpResponse:
        answer: HttpResponse
        if request.path_info.startswith("/api/"):
            answer = JsonResponse({"detail": str(self)}, status=503)
        else:
            answer = HttpResponse(str(self), status=503, content_type="text/plain; charset=utf-8")
        answer["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return answer


class Lane:
    """One lane's turns on one event loop: a running limit, a waiting limit, a wait limit."""

    def __init__(self, name: str, running: int, waiting: int, wait_seconds: float) -> None:
        self.name = name
        self.running = max(1, running)
        self.max_waiting = max(0, waiting)
        self.wait_seconds = wait_seconds
        self._turns = asyncio.Semaphore(self.running)
        self.waiting = 0

    def _busy(self, why: str) -> LaneBusy:
        work = WORK.get(self.name, f"{self.name} requests")
        return LaneBusy(
            self.name,
            f"The server is busy {work} for others ({why}); "
            f"try again in {RETRY_AFTER_SECONDS} seconds.",
        )

    async def acquire(self) -> None:
        """Wait for a turn; LaneBusy when too many wait already or the wait runs out."""
        if self._turns.locked() and self.waiting >= self.max_waiting:
            raise self._busy(f"{self.waiting} requests are waiting already")
        self.waiting += 1
        try:
            # wait_for, not asyncio.timeout: a turn that came as time ran out is kept
            # (returned), never left half-taken with the task still to be cancelled.
            await asyncio.wait_for(self._turns.acquire(), self.wait_seconds)
        except TimeoutError:
            raise self._busy(f"no turn came within {self.wait_seconds:g} seconds") from None
        finally:
            self.waiting -= 1

    def release(self) -> None:
        self._turns.release()


class Lanes:
    """The slow lanes of each event loop (tests run several loops in one process)."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Lane]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, name: str) -> Lane:
        lanes = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        lane = lanes.get(name)
        if lane is None:
            running = settings.REQUEST_LANES.get(name)
            if running is None:
                known = ", ".join(settings.REQUEST_LANES)
                raise LookupError(f"No lane {name!r} in REQUEST_LANES ({known}).")
            lane = lanes[name] = Lane(
                name, running, settings.LANE_WAITING, settings.LANE_WAIT_SECONDS
            )
        return lane
