"""Test cases API: create, list, list quick, update, delete, with validation."""

import uuid

import pytest

from projects.models import Project, TestCase
from projects.services import create_project

pytestmark = pytest.mark.django_db

STRUCTURE = "import agents\nassert True\n"


@pytest.fixture
def project(user) -> Project:
    return create_project(user, "Tested")


def create(api, project: Project, **body):
    return api.post(f"/api/projects/{project.id}/tests", body, format="json")


def test_create_list_update_delete(api, project) -> None:
    quick = create(api, project, name="Structure", test_code=STRUCTURE, quick_test=True)
    full = create(api, project, name="Offline run", test_code="print('run')\n")

    assert quick.status_code == 201, quick.content
    assert full.status_code == 201 and full.json()["quick_test"] is False
    assert quick.json()["project_id"] == str(project.id)
    listed = api.get(f"/api/projects/{project.id}/tests").json()["results"]
    assert [t["name"] for t in listed] == ["Structure", "Offline run"]
    assert [
        t["name"] for t in api.get(f"/api/projects/{project.id}/tests/quick").json()["results"]
    ] == ["Structure"]

    test_id = full.json()["id"]
    updated = api.patch(f"/api/tests/{test_id}", {"quick_test": True, "name": "Run"}, format="json")
    assert updated.status_code == 200, updated.content
    assert (updated.json()["name"], updated.json()["quick_test"]) == ("Run", True)
    assert updated.json()["test_code"] == "print('run')\n"
    assert api.get(f"/api/tests/{test_id}").json()["name"] == "Run"

    assert api.delete(f"/api/tests/{test_id}").status_code == 204
    assert api.get(f"/api/tests/{test_id}").status_code == 404
    assert list(TestCase.objects.values_list("name", flat=True)) == ["Structure"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"test_code": STRUCTURE}, "name", "This field is required."),
        ({"name": "  ", "test_code": STRUCTURE}, "name", "This field may not be blank."),
        ({"name": "x" * 101, "test_code": STRUCTURE}, "name", "no more than 100 characters"),
        ({"name": 7, "test_code": STRUCTURE}, "name", "Not a valid string."),
        ({"name": "T"}, "test_code", "This field is required."),
        ({"name": "T", "test_code": "def (:\n"}, "test_code", "not valid Python: line 1"),
        ({"name": "T", "test_code": "#" * 200_001}, "test_code", "the limit is 200000 bytes"),
        ({"name": "T", "test_code": STRUCTURE, "quick_test": "often"}, "quick_test", "true or"),
        ({"name": "T", "test_code": STRUCTURE, "quick_test": 1}, "quick_test", "true or"),
    ],
)
def test_bad_input_names_the_problem(api, project, body, field, message) -> None:
    response = create(api, project, **body)

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not TestCase.objects.exists()


def test_names_are_unique_per_project(api, user, project) -> None:
    create(api, project, name="Structure", test_code=STRUCTURE)
    other = create(api, project, name="Other", test_code=STRUCTURE).json()
    elsewhere = create_project(user, "Elsewhere")

    duplicate = create(api, project, name="Structure", test_code=STRUCTURE)
    renamed = api.patch(f"/api/tests/{other['id']}", {"name": "Structure"}, format="json")
    same_name_keeps = api.patch(f"/api/tests/{other['id']}", {"name": "Other"}, format="json")

    # Well-formed but taken: a conflict with the project's state.
    assert duplicate.status_code == 409 and renamed.status_code == 409
    assert duplicate.json() == {
        "detail": "This project already has a test named 'Structure'; choose another name."
    }
    assert same_name_keeps.status_code == 200
    assert create(api, elsewhere, name="Structure", test_code=STRUCTURE).status_code == 201


def test_another_users_tests_are_not_found(api, other_api, project) -> None:
    test_id = create(api, project, name="Mine", test_code=STRUCTURE).json()["id"]

    assert other_api.get(f"/api/projects/{project.id}/tests").status_code == 404
    assert create(other_api, project, name="Theirs", test_code=STRUCTURE).status_code == 404
    assert other_api.get(f"/api/tests/{test_id}").status_code == 404
    assert other_api.patch(f"/api/tests/{test_id}", {"name": "x"}, format="json").status_code == 404
    assert other_api.delete(f"/api/tests/{test_id}").status_code == 404
    assert api.get(f"/api/tests/{uuid.uuid4()}").json() == {"detail": "No such test case."}
    assert TestCase.objects.get(id=test_id).name == "Mine"
