"""Project names become valid slugs (or a clear 400); code is kept as Python reads it.

Names: whatever a person types (underscores, accents, other scripts, emoji, punctuation
only, whitespace, 100 characters, collisions) gives a project whose slug the storage
accepts, through the real creation function; or a 400 naming the problem.
Text: a BOM-prefixed or CRLF file, uploaded or pasted or sent to the API, is stored
(row and git) as Python reads it: no BOM, LF line endings.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projects.git import repository as git
from projects.models import Project
from projects.services import InvalidName, check_project_name, create_project, slug_base
from projects.storage import SLUG_PATTERN

pytestmark = pytest.mark.django_db

TYPED = st.one_of(
    st.text(min_size=1, max_size=100),
    st.text(alphabet="_-. !?/\\\t", min_size=1, max_size=100),  # punctuation only
    st.text(alphabet=st.characters(categories=["So", "Lo", "Mn"]), min_size=1, max_size=100),
    st.sampled_from(["my_project", "__init__", "con", "..", ".staging-x", "-", "project-2"]),
)


@settings(max_examples=2000, deadline=None, database=None)
@given(TYPED)
def test_every_name_gives_a_slug_the_storage_accepts(name: str) -> None:
    slug = slug_base(name)
    assert SLUG_PATTERN.fullmatch(slug), slug
    assert len(slug) <= 100


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=TYPED)
def test_creating_a_project_under_any_name_works_or_says_why(user, name: str) -> None:
    name = name.strip()
    before = Project.objects.count()
    try:
        check_project_name(name)
    except InvalidName:
        with pytest.raises(InvalidName):
            create_project(user, name, "x = 1\n")
        assert Project.objects.count() == before
        return
    project = create_project(user, name, "x = 1\n")
    assert project.name == name
    assert SLUG_PATTERN.fullmatch(project.slug)
    assert git.repository_exists(project.slug)
    assert git.read_head(project.slug, project.main_file).code == "x = 1\n"


def test_my_project_through_the_api(api) -> None:
    first = api.post("/api/projects", {"name": "my_project"}, format="json")
    second = api.post("/api/projects", {"name": "my-project"}, format="json")
    emoji = api.post("/api/projects", {"name": "🙂🙂"}, format="json")

    assert (first.status_code, second.status_code, emoji.status_code) == (201, 201, 201)
    assert [first.json()["slug"], second.json()["slug"]] == ["my-project", "my-project-2"]
    assert first.json()["name"] == "my_project"
    assert emoji.json()["slug"] == "project"


def test_a_name_with_a_lone_surrogate_is_a_400(api, media_root) -> None:
    # JSON may carry one escaped (a test client cannot encode it unescaped).
    body = '{"name": "ab\\ud800"}'
    response = api.post("/api/projects", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["name"] == ["Surrogate characters are not allowed: U+D800."]
    assert not Project.objects.exists()


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_creation_function_refuses_a_lone_surrogate_itself(user) -> None:
    with pytest.raises(InvalidName, match="lone surrogate at position 2"):
        create_project(user, "ab\ud800")
    assert not Project.objects.exists()


def test_my_project_through_the_page_form(browser) -> None:
    response = browser.post("/", {"name": "my_project"})

    project = Project.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.id}/"
    assert project.slug == "my-project"
    assert browser.get(response["Location"]).status_code == 200


def test_the_page_form_says_what_is_wrong_with_a_name(browser) -> None:
    response = browser.post("/", {"name": "x" * 101})

    assert "A project needs a name of 1 to 100 characters." in response.content.decode()
    assert not Project.objects.exists()


PYTHON_READS = "from agents import Agent\n\nbot = Agent(name='Bot')\n"
BOM_CRLF = b"\xef\xbb\xbf" + PYTHON_READS.replace("\n", "\r\n").encode()


def test_an_uploaded_bom_crlf_file_is_stored_as_python_reads_it(browser) -> None:
    upload = SimpleUploadedFile("bom.py", BOM_CRLF, content_type="text/x-python")
    response = browser.post("/", {"name": "Bom", "file": upload})

    assert response.status_code == 302, response.content.decode()[:500]
    project = Project.objects.get()
    assert project.current_code == PYTHON_READS
    assert git.read_head(project.slug, project.main_file).code == PYTHON_READS
    assert browser.get(response["Location"]).status_code == 200


def test_pasted_code_loses_the_browsers_crlf(browser) -> None:
    # A browser sends a textarea's lines with CRLF.
    browser.post("/", {"name": "Pasted", "code": "\ufeff" + PYTHON_READS.replace("\n", "\r\n")})

    project = Project.objects.get()
    assert git.read_head(project.slug, project.main_file).code == PYTHON_READS


def test_the_api_stores_code_as_python_reads_it(api) -> None:
    code = "\ufeff" + PYTHON_READS.replace("\n", "\r\n")
    body = api.post("/api/projects", {"name": "Api", "code": code}, format="json").json()

    assert body["current_code"] == PYTHON_READS
    assert [n["label"] for n in body["graph"]["nodes"]] == ["Bot"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"# -*- coding: latin-1 -*-\nx = 'caf\xe9'\n", "is in iso-8859-1 (its coding line)"),
        (b"\xef\xbb\xbf# coding: latin-1\nx = 1\n", "byte-order mark but its coding line"),
        (b"# coding: klingon\nx = 1\n", "unknown encoding: klingon"),
        (b"x = 1\n\xff\n", "is not UTF-8 text (byte 6)"),
    ],
)
def test_a_file_python_would_read_otherwise_is_refused_by_name(browser, content, message) -> None:
    upload = SimpleUploadedFile("old.py", content, content_type="text/x-python")
    response = browser.post("/", {"name": "Old", "file": upload})

    assert message in response.content.decode()
    assert not Project.objects.exists()


def test_an_ascii_file_with_another_coding_line_is_taken(browser) -> None:
    content = b"# -*- coding: latin-1 -*-\r\nx = 1\r\n"
    upload = SimpleUploadedFile("ascii.py", content, content_type="text/x-python")
    browser.post("/", {"name": "Ascii", "file": upload})

    assert Project.objects.get().current_code == "# -*- coding: latin-1 -*-\nx = 1\n"
