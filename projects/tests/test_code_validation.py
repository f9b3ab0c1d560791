"""Code a person sends (a project's file, a test case) that the parser cannot take.

Under the byte limit, some code nests deeper than CPython's parser can go: it raises
RecursionError or MemoryError instead of SyntaxError. Each is a 400 naming the problem,
on every way code comes in.
"""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from projects.code import InvalidCode, validate_code
from projects.graph.reader import TOO_DEEP_TO_READ, build_graph
from projects.models import Project, TestCase
from projects.nodes import find_agents
from projects.services import create_project

PATHOLOGICAL = {
    "attribute chain": "a" + ".b" * 90_000,  # RecursionError
    "unary minus": "-" * 100_000 + "1",  # MemoryError (parser stack)
    "long sum": "1" + "+1" * 90_000,  # RecursionError
}
NESTED = "nested too deeply for the Python parser"


@pytest.mark.parametrize("code", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_code_the_parser_cannot_nest_is_invalid(code: str, settings) -> None:
    assert len(code.encode()) <= settings.MAX_CODE_BYTES
    with pytest.raises(InvalidCode, match=NESTED):
        validate_code(code)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def (:\n", "The code is not valid Python: line 1: invalid syntax."),
        ("x = 1\x00\n", "The code is not valid Python: source code string cannot contain null"),
        ("x = '\udc80'\n", "not valid UTF-8 at position 5"),
        ("#" * 200_001, "The code is 200001 bytes; the limit is 200000 bytes (MAX_CODE_BYTES)."),
    ],
)
def test_invalid_code_is_named(code: str, message: str) -> None:
    with pytest.raises(InvalidCode) as raised:
        validate_code(code, "The code")
    assert message in str(raised.value)


def test_the_caller_names_the_code() -> None:
    with pytest.raises(InvalidCode, match=r"^The patched agents\.py is not valid Python"):
        validate_code("def (:\n", "The patched agents.py")
    validate_code("x = 1\n")  # valid: no exception


@pytest.mark.django_db
@pytest.mark.parametrize("code", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_a_project_with_such_code_is_a_400(api, code: str) -> None:
    response = api.post("/api/projects", {"name": "Deep", "code": code}, format="json")

    assert response.status_code == 400
    assert NESTED in response.json()["code"][0]
    assert not Project.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("code", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_a_test_case_with_such_code_is_a_400_on_create_and_update(api, user, code) -> None:
    project = create_project(user, "Tested")
    url = f"/api/projects/{project.id}/tests"
    created = api.post(url, {"name": "Deep", "test_code": code}, format="json")
    kept = api.post(url, {"name": "Fine", "test_code": "assert True\n"}, format="json").json()
    updated = api.patch(f"/api/tests/{kept['id']}", {"test_code": code}, format="json")

    for response in (created, updated):
        assert response.status_code == 400
        assert NESTED in response.json()["test_code"][0]
    assert list(TestCase.objects.values_list("test_code", flat=True)) == ["assert True\n"]


@pytest.mark.django_db
def test_the_admin_checks_a_test_case_code_too(user) -> None:
    project = create_project(user, "Admin Tested")
    test = TestCase.objects.create(project=project, name="T", test_code="assert True\n")
    admin = User.objects.create_superuser("root", password="root-password-9")
    client = Client()
    client.force_login(admin)
    form = {"project": str(project.id), "name": "T", "test_code": PATHOLOGICAL["long sum"]}

    response = client.post(f"/admin/projects/testcase/{test.pk}/change/", form)

    assert response.status_code == 200  # the form again, with the error
    assert NESTED in response.content.decode()
    test.refresh_from_db()
    assert test.test_code == "assert True\n"


@pytest.mark.parametrize("code", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_the_graph_of_such_code_is_one_unresolved_file(code: str) -> None:
    # Stored before the check, or put in git by hand: the reader reports, never raises.
    graph = build_graph(code)

    assert [(u.name, u.line) for u in graph.unresolved] == [(TOO_DEEP_TO_READ, 1)]
    assert [n.kind for n in graph.nodes] == ["unresolved"]
    assert find_agents(code) == []
