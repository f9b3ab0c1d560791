"""Cursor pagination of the API's lists: every item once, in order, across pages."""

import datetime

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from projects.services import create_project
from sessions_app.models import ConversationMessage, VibecodeSession
from sessions_app.services import get_or_create_session
from tests.support.contract import validate_response

CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Hi.")\n'

pytestmark = pytest.mark.django_db


def walk(api: APIClient, url: str) -> tuple[list[dict], list[int]]:
    """Every item of a list, following `next`; and each page's size."""
    items: list[dict] = []
    sizes: list[int] = []
    next_url: str | None = url
    while next_url:
        response = api.get(next_url)
        assert response.status_code == 200, response.json()
        validate_response("GET", response.request["PATH_INFO"], 200, response.json())
        page = response.json()
        items += page["results"]
        sizes.append(len(page["results"]))
        next_url = page["next"]
    return items, sizes


@pytest.fixture
def session(user: User) -> VibecodeSession:
    return get_or_create_session(create_project(user, "Paged", CODE), "global")[0]


def add_messages(session: VibecodeSession, count: int, start: int = 0) -> list[str]:
    made = [
        ConversationMessage.objects.create(
            session=session, role="user", agent="user", content=f"message {n}"
        )
        for n in range(start, start + count)
    ]
    return [str(message.id) for message in made]


def test_120_messages_come_each_exactly_once(api: APIClient, session: VibecodeSession) -> None:
    add_messages(session, 120)
    # A third of them share one timestamp: the id orders those.
    same_time = timezone.now() - datetime.timedelta(hours=1)
    tied = list(session.messages.order_by("?").values_list("id", flat=True)[:40])
    ConversationMessage.objects.filter(id__in=tied).update(created_at=same_time)
    expected = [
        str(i) for i in session.messages.order_by("created_at", "id").values_list("id", flat=True)
    ]
    url = f"/api/sessions/{session.id}/messages"

    default_pages, default_sizes = walk(api, url)
    small_pages, small_sizes = walk(api, f"{url}?limit=7")

    assert [m["id"] for m in default_pages] == expected
    assert default_sizes == [50, 50, 20]  # API_PAGE_SIZE
    assert [m["id"] for m in small_pages] == expected
    assert small_sizes == [7] * 17 + [1]
    # `?after=` (a reconnecting client's catch-up) pages on the same way.
    after, _ = walk(api, f"{url}?after={expected[99]}&limit=8")
    assert [m["id"] for m in after] == expected[100:]


def test_messages_added_between_pages_are_neither_lost_nor_repeated(
    api: APIClient, session: VibecodeSession
) -> None:
    first_ids = add_messages(session, 10)
    first = api.get(f"/api/sessions/{session.id}/messages?limit=6").json()
    later_ids = add_messages(session, 3, start=10)

    rest, _ = walk(api, first["next"])

    assert [m["id"] for m in first["results"]] + [m["id"] for m in rest] == first_ids + later_ids


def test_projects_page_newest_first(api: APIClient, user: User) -> None:
    made = [str(create_project(user, f"P{n}", CODE).id) for n in range(5)]

    projects, sizes = walk(api, "/api/projects?limit=2")

    assert [p["id"] for p in projects] == made[::-1]
    assert sizes == [2, 2, 1]


def test_limit_and_cursor_are_checked(api: APIClient, session: VibecodeSession) -> None:
    url = f"/api/sessions/{session.id}/messages"
    add_messages(session, 3)

    for bad in ("0", "201", "ten", "-1", "", " 5", "+5", "5_0", "\u0665", "9" * 5000):
        response = api.get(url, {"limit": bad})
        assert response.status_code == 400 and "limit" in response.json(), bad
    assert len(api.get(url, {"limit": "200"}).json()["results"]) == 3
    for bad in ("not-a-cursor", "12-" + "0" * 31, "1" * 18 + "-" + "0" * 32, "1-" + "G" * 32):
        bad_cursor = api.get(url, {"cursor": bad})
        assert bad_cursor.status_code == 400 and "cursor" in bad_cursor.json(), bad
    # Any cursor of the documented pattern is a position: before every row, after all.
    assert len(api.get(url, {"cursor": "0-" + "0" * 32}).json()["results"]) == 3
    assert api.get(url, {"cursor": "9" * 17 + "-" + "f" * 32}).json()["results"] == []
    # A well-formed sha that is no commit of the project: nothing to start after.
    no_commit = api.get(f"/api/projects/{session.project_id}/commits", {"cursor": "f" * 40})
    assert no_commit.status_code == 404 and "not a commit" in no_commit.json()["detail"]
