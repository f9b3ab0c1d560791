"""The project list and a project, read with prepared SQL (`projects.reads`), say
exactly what the ORM and the DRF serializers (which document them in the OpenAPI
schema) would say."""

import uuid
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from projects import reads
from projects.models import Project
from projects.serializers import ProjectDetailSerializer, ProjectSerializer
from projects.services import create_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def projects(user, media_root) -> list[Project]:
    made = [create_project(user, f"Project {n}", None) for n in range(3)]
    # Rows as they come in practice: no commit yet, microseconds of zero, another branch.
    Project.objects.filter(id=made[0].id).update(current_commit="", current_branch="work")
    Project.objects.filter(id=made[1].id).update(
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        updated_at=datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC),
    )
    return [Project.objects.get(id=project.id) for project in made]


def test_the_list_is_what_the_serializer_gives(api, user, projects) -> None:
    body = api.get("/api/projects").json()

    ordered = sorted(projects, key=lambda p: (p.created_at, p.id), reverse=True)
    assert body["results"] == ProjectSerializer(ordered, many=True).data
    assert body["results"][-1]["created_at"] == "2026-01-02T03:04:05Z"
    assert body["results"][-1]["updated_at"] == "2026-01-02T03:04:05.000600Z"
    assert {row["owner"] for row in body["results"]} == {user.username}
    assert [list(row) for row in body["results"]] == [
        list(row) for row in ProjectSerializer(ordered, many=True).data
    ]  # the same keys in the same order


def test_a_project_is_what_the_detail_serializer_gives(api, projects) -> None:
    for project in projects:
        body = api.get(f"/api/projects/{project.id}").json()
        assert body == ProjectDetailSerializer(project).data
        assert list(body) == list(ProjectDetailSerializer(project).data)


def test_dates_follow_the_active_time_zone_as_drf_does(api, projects) -> None:
    with timezone.override("Europe/Paris"):
        body = api.get(f"/api/projects/{projects[1].id}").json()
        assert body == ProjectDetailSerializer(projects[1]).data
    assert body["created_at"] == "2026-01-02T04:04:05+01:00"


def test_the_list_pages_by_its_last_row(api, projects) -> None:
    first = api.get("/api/projects?limit=2").json()
    rest = api.get(first["next"]).json()

    assert rest["next"] is None
    ids = [row["id"] for row in first["results"] + rest["results"]]
    assert sorted(ids) == sorted(str(project.id) for project in projects)


def test_pages_follow_the_orms_order_through_equal_creation_times(api, user, media_root) -> None:
    made = [create_project(user, f"Tied {n}", None) for n in range(5)]
    tied = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC)
    Project.objects.filter(id__in=[p.id for p in made[1:4]]).update(created_at=tied)
    create_project(user.__class__.objects.create_user("someone-else"), "Not mine", None)

    seen, url = [], "/api/projects?limit=2"
    while url:
        body = api.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]

    expected = Project.objects.filter(owner=user).order_by("-created_at", "-id")
    assert seen == [str(project.id) for project in expected]


def test_rows_are_what_the_orm_reads(user, projects) -> None:
    orm = Project.objects.filter(owner=user).order_by("-created_at", "-id")
    assert reads.project_page(user.pk, 10) == list(orm.values(*reads.COLUMNS))
    first = orm[0]
    after = reads.project_page(user.pk, 10, (first.created_at, first.id))
    assert after == list(orm.values(*reads.COLUMNS)[1:])
    assert reads.owned_project(user.pk, first.id) == orm.values(*reads.DETAIL_COLUMNS)[0]
    assert reads.owned_project(user.pk + 1, first.id) is None


def test_another_users_project_or_none_is_a_404(other_api, projects) -> None:
    assert other_api.get(f"/api/projects/{projects[0].id}").status_code == 404
    assert other_api.get(f"/api/projects/{uuid.uuid4()}").status_code == 404
