"""The pages' Content-Security-Policy, and pages that keep to it.

Scripts and styles come from this site's files only: no inline script, style
element, style attribute or event-handler attribute on any page (the browser test
checks the same pages run under the policy without a violation).
"""

from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.test import Client

from agents_app.patching import unified_diff
from projects.services import create_project
from reviews.models import Diff
from sessions_app.models import ConversationMessage
from sessions_app.services import get_or_create_session

pytestmark = pytest.mark.django_db

CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'


class InlineFinder(HTMLParser):
    """Everything in a page that a script-src/style-src 'self' policy would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.found += [f"<{tag} {name}=...>" for name in names if name.startswith("on")]
        if "style" in names:
            self.found.append(f"<{tag} style=...>")
        if tag == "style":
            self.found.append("<style>")
        if tag == "script" and "src" not in names and names.get("type") != "application/json":
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append(f"inline script: {data.strip()[:40]}")


def inline_code(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


def test_inline_finder_finds_what_the_policy_blocks() -> None:
    page = (
        '<form onsubmit="return confirm(1)"><p style="color:red"></p></form>'
        "<style>p{}</style><script>alert(1)</script>"
        '<script src="/static/x.js"></script><script type="application/json">{}</script>'
    )
    assert inline_code(page) == [
        "<form onsubmit=...>",
        "<p style=...>",
        "<style>",
        "inline script: alert(1)",
    ]


def test_every_page_has_the_policy_and_no_inline_code(user: User) -> None:
    project = create_project(user, "Strict", CODE)
    session = get_or_create_session(project, "global")[0]
    ConversationMessage.objects.create(
        session=session, role="assistant", agent="vibecoder", iteration=1, content="hello",
        patch_preview="+x", token_usage={"total_tokens": 7},
    )  # fmt: skip
    new = CODE.replace("Help.", "Help kindly.")
    diff = Diff.objects.create(
        session=session, project=project, base_commit=project.current_commit,
        diff_content=unified_diff(CODE, new, "workflow.py"), patched_code=new,
        test_results=[{"name": "t", "status": "passed", "output": "ok", "duration": 0.1}],
    )  # fmt: skip
    anonymous = Client()
    browser = Client()
    browser.force_login(user)
    pages = {
        "/login/": anonymous.get("/login/"),
        "/": browser.get("/"),
        "project": browser.get(f"/projects/{project.id}/"),
        "diff": browser.get(f"/diffs/{diff.id}/"),
    }

    for name, response in pages.items():
        assert response.status_code == 200, name
        policy = dict(
            directive.strip().split(" ", 1)
            for directive in response["Content-Security-Policy"].split(";")
        )
        assert policy["script-src"] == "'self'", name
        assert policy["style-src"] == "'self'", name
        assert policy["default-src"] == "'self'", name
        assert inline_code(response.content.decode()) == [], name
    assert "data-confirm=" in pages["/"].content.decode()
