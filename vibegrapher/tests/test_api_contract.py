"""The published contract (docs/openapi.yaml, /api/schema/) against the running code.

The document validates as OpenAPI 3.1; every /api/ route and method is in it; the
worked example of docs/api.md (token to committed diff, plus the other endpoints)
answers what the document says, status and body, and no answer carries a server
internal. Events are checked on every test socket (tests/support/fixtures.py).
"""

import json
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import AsyncClient, Client
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

from agents_app.tests.conftest import WORKFLOW, change, patch_input, verdict
from sessions_app import consumers
from sessions_app.event_schema import close_codes, event_types
from tests.support.contract import (
    INTERNAL_FIELDS,
    _validator,
    internal_fields_in,
    openapi_document,
    validate_response,
)
from tests.support.fixtures import open_project_socket
from tests.support.model_server import custom_tool_call, text
from vibegrapher.api.schema import ID_SOURCES

# Routes under /api/ that are not API operations: the catch-all JSON 404 and the
# document and its page themselves.
NOT_OPERATIONS = {"api-not-found", "api-schema", "api-docs"}


def test_the_schema_is_valid_openapi_3_1() -> None:
    document = openapi_document()

    validate(document)  # raises with the first problem
    assert document["openapi"] == "3.1.0"


def _api_routes(
    patterns: list[URLPattern | URLResolver], prefix: str = ""
) -> list[tuple[str, URLPattern]]:
    routes = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += _api_routes(list(pattern.url_patterns), route)
        elif route.startswith("api/") or route.startswith("^api"):
            routes.append((route, pattern))
    return routes


def _methods(pattern: URLPattern) -> set[str]:
    view = pattern.callback
    cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
    assert cls is not None, f"{pattern.pattern} is not a class-based API view"
    allowed = getattr(view, "initkwargs", {}).get("http_method_names", cls.http_method_names)
    return {m for m in allowed if m not in ("options", "head") and hasattr(cls, m)}


def test_every_api_route_is_in_the_schema() -> None:
    paths = openapi_document()["paths"]
    missing = []
    for route, pattern in _api_routes(list(get_resolver().url_patterns)):
        if pattern.name in NOT_OPERATIONS:
            continue
        path = "/" + route.replace("<uuid:", "{").replace(">", "}")
        for method in sorted(_methods(pattern)):
            if method not in paths.get(path, {}):
                missing.append(f"{method.upper()} {path}")
    assert not missing, f"API operations missing from the OpenAPI document: {missing}"
    assert len(paths) >= 20  # the walk found the routes


def test_no_schema_names_a_server_internal() -> None:
    text = json.dumps(openapi_document())

    assert not [field for field in INTERNAL_FIELDS if f'"{field}"' in text]


def test_every_event_and_close_code_is_documented() -> None:
    schemas = openapi_document()["components"]["schemas"]
    documented = {int(code) for code in openapi_document()["x-websocket"]["close_codes"]}

    for typed in event_types():
        assert typed.__name__ in schemas
    assert (
        {value for name, value in vars(consumers).items() if name.startswith("CLOSE_")}
        == documented
        == set(close_codes())
    )
    assert schemas["WebSocketCloseCode"]["enum"] == sorted(documented)


@pytest.mark.django_db
def test_the_document_and_its_page_are_served(client: Client) -> None:
    yaml_answer = client.get("/api/schema/")
    json_answer = client.get("/api/schema/?format=json")
    page = client.get("/api/docs/")
    script = client.get("/api/docs/?script=")

    assert yaml_answer.status_code == 200 and yaml_answer.content.startswith(b"openapi: 3.1.0")
    assert json_answer.json()["paths"].keys() == openapi_document()["paths"].keys()
    assert page.status_code == 200
    html = page.content.decode()
    # Everything from this site (the CSP allows nothing else), nothing inline.
    assert "https://" not in html and "<script>" not in html and "<style>" not in html
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        url = html.split(asset)[0].rsplit('"', 1)[-1] + asset
        # Served by WhiteNoise from collectstatic's output, as the site's own files.
        assert finders.find(url.split(settings.STATIC_URL, 1)[1]), url


class Example:
    """Sends the documented requests and checks each answer against the document."""

    def __init__(self, client: AsyncClient, token: str | None = None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Token {token}"} if token else {}
        self.seen: set[tuple[str, str, int]] = set()

    async def __call__(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = await self.client.generic(
            method,
            path,
            json.dumps(body) if body is not None else "",
            content_type="application/json",
            headers=self.headers,
        )
        answer = response.json() if response.content else None
        assert response.status_code == expect, (method, path, response.status_code, answer)
        validate_response(method, path, response.status_code, answer)
        self.seen.add((method, path.split("?")[0], response.status_code))
        return answer


async def test_the_worked_example_answers_as_documented(
    transactional_db, model_server, user: User, settings
) -> None:
    # The longer events (the VibeCoder's patch, the new code) come as references.
    settings.WS_EVENT_INLINE_MAX_BYTES = 1024
    client = AsyncClient()
    anonymous = Example(client)
    # docs/api.md, step by step: a token, a project, a session, a prompt, the run's
    # events, the diff reviewed and committed.
    login = {"username": "alice", "password": "alice-password-123"}
    token = (await anonymous("POST", "/api/auth/token", login))["token"]
    await anonymous("POST", "/api/auth/token", {"username": "alice"}, expect=400)
    await anonymous("GET", "/api/projects", expect=401)
    call = Example(client, token)

    project = await call("POST", "/api/projects", {"name": "Shop", "code": WORKFLOW}, expect=201)
    pid = project["id"]
    await call("POST", "/api/projects", {"name": "Broken", "code": "def ("}, expect=400)
    listed = await call("GET", "/api/projects?limit=10")
    assert [p["id"] for p in listed["results"]] == [pid] and listed["next"] is None
    await call("GET", f"/api/projects/{pid}")
    await call("GET", f"/api/projects/{uuid.uuid4()}", expect=404)
    await call("GET", f"/api/projects/{pid}/nodes")
    await call("GET", f"/api/projects/{pid}/graph")
    await call("GET", f"/api/projects/{pid}/graph?format=mermaid")
    await call("GET", f"/api/projects/{pid}/graph?format=png", expect=400)
    session = await call("POST", f"/api/projects/{pid}/sessions", {}, expect=201)
    sid = session["id"]
    await call("POST", f"/api/projects/{pid}/sessions", {}, expect=200)
    await call("GET", f"/api/projects/{pid}/sessions")
    await call("GET", f"/api/sessions/{sid}")
    await call("POST", f"/api/sessions/{sid}/cancel", expect=409)

    test_case = await call(
        "POST",
        f"/api/projects/{pid}/tests",
        {"name": "Imports", "test_code": "import workflow\n", "quick_test": True},
        expect=201,
    )
    await call("PATCH", f"/api/tests/{test_case['id']}", {"quick_test": False})
    await call("GET", f"/api/tests/{test_case['id']}")
    await call("GET", f"/api/projects/{pid}/tests")
    await call("GET", f"/api/projects/{pid}/tests/quick")
    await call("DELETE", f"/api/tests/{test_case['id']}", expect=204)

    # Behaviour cases, kept and changed (running one needs the sandbox: not here).
    case = await call(
        "POST",
        f"/api/projects/{pid}/cases",
        {"name": "Refunds", "input": "I want a refund", "rubric": "Offers a refund."},
        expect=201,
    )
    await call("PATCH", f"/api/cases/{case['id']}", {"rubric": "Offers a refund at once."})
    await call("GET", f"/api/cases/{case['id']}")
    await call("GET", f"/api/projects/{pid}/cases")
    await call("POST", f"/api/cases/{uuid.uuid4()}/run", expect=404)
    # Trials: what is refused before a sandbox is needed, and the (empty) list.
    await call("POST", f"/api/projects/{pid}/trials", {"input": "Hi", "side": "base"}, 409)
    await call("GET", f"/api/projects/{pid}/trials")
    await call("GET", f"/api/trials/{uuid.uuid4()}", expect=404)
    await call("POST", f"/api/trials/{uuid.uuid4()}/cancel", expect=404)

    socket = await open_project_socket(pid, token)  # every event validated as it comes
    model_server.script(
        custom_tool_call(
            "submit_patch",
            patch_input("Refunds", change("invoices.", "invoices and refunds.")),
        ),
        text(verdict(True, "Does what was asked.", "feat: refunds")),
        text(verdict(True, "Shorter.", "feat: refunds")),
    )
    await call("POST", f"/api/sessions/{sid}/messages", {"prompt": ""}, expect=400)
    started = await call(
        "POST", f"/api/sessions/{sid}/messages", {"prompt": "Billing handles refunds"}, 202
    )

    async def next_event(timeout: float) -> Any:  # noqa: ASYNC109 (channels' name)
        event = await socket.receive_json_from(timeout=timeout)
        if event["type"] == "large_event":
            seen_types.append("large_event")
            event = await call("GET", event["body_url"])
        return event

    seen_types = []
    while True:
        event = await next_event(20)
        seen_types.append(event["type"])
        if event["type"] == "run_finished":
            break
    assert event["outcome"] == "diff", event
    did = event["diff_id"]

    messages = await call("GET", f"/api/sessions/{sid}/messages")
    assert messages["results"][0]["id"] == started["message_id"]
    await call("GET", f"/api/sessions/{sid}/messages?after={started['message_id']}&limit=1")
    await call("GET", f"/api/messages/{messages['results'][1]['id']}/full")
    await call("GET", f"/api/sessions/{sid}/diffs")
    await call("GET", f"/api/sessions/{sid}/diffs/pending")
    await call("GET", f"/api/projects/{pid}/diffs")
    await call("GET", f"/api/diffs/{did}")
    await call("GET", f"/api/diffs/{did}/preview")
    await call("GET", f"/api/diffs/{did}/graph")
    await call("GET", f"/api/diffs/{did}/graph?format=svg")
    await call("GET", f"/api/diffs/{did}/graph?format=mermaid")
    await call("GET", f"/api/diffs/{did}/cases")
    await call("DELETE", f"/api/cases/{case['id']}", expect=204)
    await call("POST", f"/api/diffs/{did}/cases/run", expect=409)  # no case to run
    await call("POST", f"/api/diffs/{did}/commit", {}, expect=409)  # not approved yet
    await call("POST", f"/api/diffs/{did}/refine-message", {"hint": "shorter"})
    await call("POST", f"/api/diffs/{did}/review", {"approved": False}, expect=400)
    await call("POST", f"/api/diffs/{did}/review", {"approved": True})
    committed = await call("POST", f"/api/diffs/{did}/commit", {"commit_message": "feat: refunds"})
    while (event := await next_event(5))["type"] != "code_changed":
        pass
    assert event["commit_sha"] == committed["committed_sha"]
    commits = await call("GET", f"/api/projects/{pid}/commits?limit=1")
    assert commits["results"][0]["sha"] == committed["committed_sha"]
    assert commits["next"] is not None
    older = await call("GET", commits["next"].split("testserver", 1)[1])
    assert older["results"][0]["message"] == "Initial agent code" and older["next"] is None
    await call("GET", f"/api/projects/{pid}/commits?limit=0", expect=400)
    usage = await call("GET", f"/api/sessions/{sid}/usage")
    assert usage["total_tokens"] > 0
    assert (await call("GET", f"/api/projects/{pid}/usage"))["total_tokens"] == usage[
        "total_tokens"
    ]
    await socket.disconnect()

    await call("DELETE", f"/api/sessions/{sid}", expect=204)
    await call("DELETE", f"/api/projects/{pid}", expect=204)
    await call("DELETE", "/api/auth/token", expect=204)
    await call("GET", "/api/projects", expect=401)

    # Every operation of the document was tried, apart from the sandboxed test runs
    # (their answers are checked in testruns/tests/test_diff_tests.py and
    # test_head_tests.py) and the export, which answers a git bundle, not JSON
    # (projects/tests/git/test_storage.py).
    tried = {(m.lower(), _template(path)) for m, path, _ in call.seen | anonymous.seen}
    documented = {
        (method, path)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "put", "delete")
    }
    assert documented - tried == {
        ("post", "/api/diffs/{diff_id}/test"),
        ("post", "/api/projects/{project_id}/tests/run"),
        ("get", "/api/projects/{project_id}/export"),
    }
    assert set(seen_types) >= {"conversation_message", "token_usage", "diff_created", "large_event"}


def _template(path: str) -> str:
    parts = []
    for part in path.split("/"):
        try:
            uuid.UUID(part)
            parts.append("{id}")
        except ValueError:
            parts.append(part)
    concrete = "/".join(parts)
    for template in openapi_document()["paths"]:
        generic = "/".join("{id}" if p.startswith("{") else p for p in template.split("/"))
        if generic == concrete:
            return template
    raise AssertionError(path)


@pytest.mark.django_db
def test_no_answer_carries_a_server_internal(api, user: User, admin_client: Client) -> None:
    project = api.post("/api/projects", {"name": "Inside"}, format="json").json()
    session = api.post(f"/api/projects/{project['id']}/sessions", {}, format="json").json()

    answers = [
        project,
        session,
        api.get("/api/projects").json(),
        api.get(f"/api/projects/{project['id']}").json(),
        api.get(f"/api/projects/{project['id']}/sessions").json(),
        api.get(f"/api/sessions/{session['id']}").json(),
        api.get(f"/api/sessions/{session['id']}/messages").json(),
    ]

    assert not set().union(*(internal_fields_in(answer) for answer in answers))
    # The admin still shows them.
    in_admin = admin_client.get(f"/admin/projects/project/{project['id']}/change/")
    assert in_admin.status_code == 200 and "projects/inside" in in_admin.content.decode()


@pytest.mark.django_db
def test_a_cookie_request_without_its_csrf_header_is_a_documented_403(user: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    refused = browser.post("/api/projects", {"name": "X"}, content_type="application/json")
    read = browser.get("/api/projects")

    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    validate_response("POST", "/api/projects", 403, refused.json())
    validate_response("GET", "/api/projects", 200, read.json())


@pytest.mark.django_db
def test_the_async_views_take_the_session_cookie_with_its_csrf_header(user: User) -> None:
    from projects.services import create_project
    from sessions_app.services import get_or_create_session

    code = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Hi.")\n'
    session = get_or_create_session(create_project(user, "Paged", code), "global")[0]
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/login/")  # sets the csrftoken cookie, as the pages do
    url = f"/api/sessions/{session.id}/messages"

    without = browser.post(url, {"prompt": "hi"}, content_type="application/json")
    with_header = browser.post(
        url,
        {"prompt": "  "},
        content_type="application/json",
        headers={"X-CSRFToken": browser.cookies["csrftoken"].value},
    )

    assert without.status_code == 403 and "CSRF" in without.json()["detail"]
    assert with_header.status_code == 400 and "prompt" in with_header.json()
    validate_response("POST", url, 400, with_header.json())


# The most bytes one character of a JSON string can take: an astral character escaped
# as a surrogate pair (`\ud83d\ude00`), as Python's json.dumps writes it by default.
MAX_BYTES_PER_CHARACTER = 12


def _largest_body(schema: dict[str, Any], schemas: dict[str, Any]) -> int | None:
    """Bytes of the largest JSON object `schema` allows, or None when a string in it is
    unbounded (code, checked by MAX_CODE_BYTES instead)."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
    size = 2
    for name, field in schema.get("properties", {}).items():
        field = schemas[field["$ref"].rsplit("/", 1)[1]] if "$ref" in field else field
        if field.get("type") == "string" and "enum" not in field:
            if "maxLength" not in field:
                return None
            value = 2 + MAX_BYTES_PER_CHARACTER * field["maxLength"]
        else:
            value = 64  # a boolean, a number, a UUID, an enum value
        size += len(json.dumps(name)) + 2 + value + 2
    return size


def test_every_valid_body_fits_its_routes_byte_limit() -> None:
    # A body the document allows must not be refused as too large (413) by the body
    # limit (vibegrapher/server/body_limit.py), however its client escapes the JSON.
    from vibegrapher.server.body_limit import body_limit

    document = openapi_document()
    checked = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            schema = content["application/json"]["schema"]
            largest = _largest_body(schema, document["components"]["schemas"])
            if largest is None:
                continue
            concrete = path.replace("{", "").replace("}", "")
            limit, setting = body_limit(concrete)
            assert largest <= limit, f"{method.upper()} {path}: {largest} > {setting} {limit}"
            checked.append(path)
    assert "/api/auth/token" in checked and "/api/sessions/{session_id}/messages" in checked


def test_an_error_body_matches_exactly_one_error_shape() -> None:
    # A 400 is `oneOf: [Error, FieldErrors]`: a body matching both would fail every
    # validator that checks oneOf (schemathesis did).
    components = openapi_document()["components"]
    error = _validator({"$ref": "#/components/schemas/Error"}, components)
    field_errors = _validator({"$ref": "#/components/schemas/FieldErrors"}, components)
    bodies = [
        {"detail": "JSON parse error - Expecting value"},
        {"detail": "Conflict.", "run_dead_at": None},
        {"name": ["This field may not be blank."]},
        {"non_field_errors": ["Unable to log in."]},
        {"limit": ["limit must be a whole number from 1 to 200."], "cursor": ["Not a cursor."]},
    ]
    for body in bodies:
        matches = [error.is_valid(body), field_errors.is_valid(body)]
        assert matches.count(True) == 1, (body, matches)
    assert not error.is_valid({}) and not field_errors.is_valid({})


def test_every_id_has_links_from_where_it_is_made_to_every_operation_taking_it() -> None:
    document = openapi_document()
    operations = {
        op["operationId"]: (path, op)
        for path, item in document["paths"].items()
        for op in item.values()
    }
    for name, sources in ID_SOURCES.items():
        takers = {oid for oid, (path, _) in operations.items() if f"{{{name}}}" in path}
        assert takers, name
        for source, status, expression in sources:
            links = operations[source][1]["responses"][status]["links"]
            assert {link["operationId"] for link in links.values()} >= takers, (source, name)
            for link in links.values():
                if link["operationId"] in takers:
                    assert link["parameters"] == {name: expression}
    # Every operation that creates an object with an id links to the ones taking it.
    creates = {oid for oid, (_, op) in operations.items() if "201" in op["responses"]}
    linked = {source for sources in ID_SOURCES.values() for source, _, _ in sources}
    assert creates <= linked, creates - linked
