"""The admin as an audit tool: demo superuser in development, read-only records, scoping."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from projects.services import create_project
from reviews.models import Diff
from sessions_app.models import ConversationMessage
from sessions_app.services import get_or_create_session

pytestmark = pytest.mark.django_db

PATCH = (
    "--- a/agents.py\n+++ b/agents.py\n@@ -1,2 +1,2 @@\n def f():\n-    return 1\n+    return 2\n"
)


def stored_message(owner: User) -> ConversationMessage:
    project = create_project(owner, f"{owner.username} project")
    session, _ = get_or_create_session(project, "global")
    return ConversationMessage.objects.create(
        session=session,
        role="assistant",
        agent="vibecoder",
        iteration=1,
        content="Return two",
        patch_preview=PATCH,
        token_usage={"total_tokens": 13627, "model": "gpt-5"},
        openai_request={"instructions": "You are the VibeCoder", "input": [{"role": "user"}]},
        openai_response={
            "id": "resp_1",
            "output": [{"type": "custom_tool_call", "name": "submit_patch", "input": PATCH}],
        },
    )


def test_seed_makes_demo_a_superuser_in_development_only(settings) -> None:
    settings.DEBUG = False
    call_command("seed", stdout=io.StringIO())
    demo = User.objects.get(username="demo")
    assert not demo.is_staff and not demo.is_superuser
    demo.delete()
    settings.DEBUG = True
    call_command("seed", stdout=io.StringIO())
    demo = User.objects.get(username="demo")
    assert demo.is_staff and demo.is_superuser


def test_response_view_shows_indented_json_request_and_raw_tool_input(settings) -> None:
    settings.DEBUG = True
    call_command("seed", stdout=io.StringIO())
    demo = User.objects.get(username="demo")
    message = stored_message(demo)
    client = Client()
    client.force_login(demo)

    listing = client.get("/admin/sessions_app/conversationmessage/")
    assert listing.status_code == 200
    assert "13,627" in listing.content.decode()
    page = client.get(f"/admin/sessions_app/conversationmessage/{message.id}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert '<pre class="audit-json">{\n  &quot;id&quot;: &quot;resp_1&quot;' in html
    assert "Request sent to the model" in html
    assert "&quot;instructions&quot;: &quot;You are the VibeCoder&quot;" in html
    # The freeform tool input keeps its newlines and indentation, unescaped.
    assert '<pre class="audit-text">--- a/agents.py\n+++ b/agents.py' in html
    assert "\n-    return 1\n" in html
    assert 'name="_save"' not in html and "/delete/" not in html


def test_records_are_read_only_and_scoped_to_their_owner(settings, user, other_user) -> None:
    mine, theirs = stored_message(user), stored_message(other_user)
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)

    listing = client.get("/admin/sessions_app/conversationmessage/").content.decode()
    assert str(mine.id) in listing and str(theirs.id) not in listing
    # Not even the other user's project name appears in the filters.
    assert f"{user.username} project" in listing
    assert f"{other_user.username} project" not in listing
    diffs = client.get("/admin/reviews/diff/").content.decode()
    assert f"{other_user.username} project" not in diffs
    url = f"/admin/sessions_app/conversationmessage/{theirs.id}/change/"
    assert client.get(url).status_code == 302  # not found for this user: back to the list
    change = f"/admin/sessions_app/conversationmessage/{mine.id}/change/"
    assert client.post(change, {"content": "rewritten"}).status_code == 403
    assert client.post(change.replace("change", "delete"), {"post": "yes"}).status_code == 403
    mine.refresh_from_db()
    assert mine.content == "Return two"
    diff = Diff.objects.create(
        session=mine.session, project=mine.session.project, base_commit="0" * 40,
        diff_content=PATCH, patched_code="def f():\n    return 2\n",
    )  # fmt: skip
    diff_url = f"/admin/reviews/diff/{diff.id}/change/"
    assert client.post(diff_url, {"status": "committed"}).status_code == 403
    diff.refresh_from_db()
    assert diff.status == "evaluator_approved"


def test_a_refinement_is_labelled_as_such_and_linked_to_its_diff(user) -> None:
    message = stored_message(user)
    diff = Diff.objects.create(
        session=message.session, project=message.session.project,
        base_commit=message.session.project.current_commit, diff_content="", patched_code="",
    )  # fmt: skip
    ConversationMessage.objects.filter(id=message.id).update(agent="refiner", diff=diff)
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)

    listing = client.get("/admin/sessions_app/conversationmessage/").content.decode()

    assert '<td class="field-agent">Commit message refiner</td>' in listing
    assert f"/admin/reviews/diff/{diff.id}/change/" in listing
