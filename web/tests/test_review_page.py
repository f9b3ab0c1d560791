"""The review page's server side: the diff rows, the checks line, the request shown."""

from typing import Any

import pytest
from django.test import Client

from agents_app.patching import unified_diff
from projects.services import create_project
from reviews.checks import checks_summary
from reviews.models import Diff
from sessions_app.costs import cost_of_usage
from sessions_app.models import ConversationMessage, VibecodeSession
from sessions_app.services import get_or_create_session
from web.diff_view import blocks

CODE = "".join(f"v{n} = {n}\n" for n in range(1, 31))


def test_blocks_number_old_and_new_lines_and_fold_the_rest() -> None:
    patched = CODE.replace("v10 = 10\n", "v10 = 0\n").replace("v20 = 20\n", "")
    shown = blocks(CODE, patched)

    assert [b.folded for b in shown] == [True, False, True, False, True]
    first_hunk = shown[1]
    assert first_hunk.header == "@@ -7,7 +7,7 @@"
    rows = [(line.kind, line.old_no, line.new_no, line.sign) for line in first_hunk.lines]
    assert rows[3:5] == [("del", 10, None, "-"), ("add", None, 10, "+")]
    assert rows[0] == ("context", 7, 7, " ")
    # After the removed line 20, old and new numbers differ by one.
    assert shown[4].lines[0].old_no == 24 and shown[4].lines[0].new_no == 23
    assert shown[3].split_rows[3].left is not None and shown[3].split_rows[3].right is None
    # Folded: 1-6, 14-16 and 24-30 of the old file.
    assert [len(b.lines) for b in shown if b.folded] == [6, 3, 7]


def test_highlighted_lines_are_escaped() -> None:
    shown = blocks("x = 1\n", "x = '<b>'\n")
    added = [line for b in shown for line in b.lines if line.kind == "add"]
    assert "&lt;b&gt;" in added[0].html and "<b>" not in added[0].html


def test_odd_line_breaks_keep_text_and_numbers_paired() -> None:
    original = "a = 1\r\ns = 'x\x0cy\u2028z'\nb = 2\n"
    patched = original.replace("b = 2", "b = 3")
    shown = [line for b in blocks(original, patched) for line in b.lines]
    assert [(line.kind, line.old_no, line.new_no) for line in shown] == [
        ("context", 1, 1), ("context", 2, 2), ("del", 3, None), ("add", None, 3),
    ]  # fmt: skip
    assert "b" in shown[3].html and "3" in shown[3].html


def test_checks_summary_counts_current_tests_only() -> None:
    results = [
        {"name": "a", "status": "failed"},
        {"name": "b", "status": "passed"},
        {"name": "gone", "status": "failed"},
    ]
    assert checks_summary(["a", "b"], results) == "2 tests: 1 passed, 1 failed"
    assert checks_summary(["a", "b", "c"], results[:1]) == "3 tests: 1 failed, 2 not run"
    assert checks_summary([], results) == "No tests"


@pytest.mark.django_db
def test_review_page_shows_the_persons_request_and_the_committed_sha(user) -> None:
    project = create_project(user, "Asked", CODE)
    session, _ = get_or_create_session(project, "global")
    asked = ConversationMessage.objects.create(
        session=session, role="user", agent="user", content="Rename line ten please"
    )
    patched = CODE.replace("v10 = 10\n", "v10 = 0\n")
    diff = Diff.objects.create(
        session=session,
        project=project,
        base_commit=project.current_commit,
        diff_content=unified_diff(CODE, patched, "agents.py"),
        patched_code=patched,
        vibecoder_prompt="A person reviewed the diff you produced and rejected it: rename",
        test_results=[{"name": "gone", "status": "passed", "duration": 2.10645}],
    )
    client = Client()
    client.force_login(user)

    html = client.get(f"/diffs/{diff.id}/").content.decode()

    assert '<q id="asked">Rename line ten please</q>' in html
    assert f'href="/projects/{project.id}/#message-{asked.id}"' in html
    # The agent's prompt is there, under a disclosure.
    assert "<summary>The prompt the VibeCoder was given</summary>" in html
    assert '<td class="ln old">10</td><td class="ln new"></td><td class="sign">-</td>' in html
    assert "2.11 s" in html and "No tests" in html
    assert 'id="committed" hidden' in html
    # Open for review: the actions, a real label for the hint, why Commit waits.
    assert '<div id="review-actions" >' in html
    assert '<label for="hint">Hint for the commit message refiner' in html
    assert (
        '<span id="merge-reason" class="muted">Commit is enabled once you approve.</span>' in html
    )

    from reviews import services

    diff.status = Diff.Status.HUMAN_APPROVED
    diff.save()
    committed = services.commit(diff.id, user, "feat: ten")
    html = client.get(f"/diffs/{diff.id}/").content.decode()
    assert f"<code>{committed.committed_sha[:12]}</code>" in html
    assert f"#commit-{committed.committed_sha}" in html
    assert "read-only" in html
    # Read-only: Refine, Approve, Commit, Reject and the feedback box are hidden.
    assert '<div id="review-actions" hidden>' in html
    actions = html.split('<div id="review-actions" hidden>', 1)[1].split('<p id="review-error"')[0]
    for control in ('id="refine"', 'id="approve"', 'id="commit"', 'id="reject"', 'id="feedback"'):
        assert control in actions
    assert '<span id="merge-reason" class="muted"></span>' in html
    assert 'id="commit-message" class="editable" value="feat: ten" maxlength="500" readonly' in html
    project_html = client.get(f"/projects/{project.id}/").content.decode()
    assert f'<li id="commit-{committed.committed_sha}">' in project_html
    assert f'href="/diffs/{diff.id}/">review</a>' in project_html
    assert f'href="#message-{asked.id}">request</a>' in project_html


@pytest.mark.django_db
def test_diff_layout_is_remembered_per_user(user, other_user) -> None:
    from reviews.models import ReviewPreference

    client = Client()
    client.force_login(user)
    assert client.post("/diff-layout", {"layout": "sideways"}).status_code == 400
    assert client.post("/diff-layout", {"layout": "split"}).status_code == 204
    assert ReviewPreference.objects.get(user=user).diff_layout == "split"
    assert not ReviewPreference.objects.filter(user=other_user).exists()


@pytest.mark.django_db
def test_review_pages_link_iterations_and_show_the_changes_since_the_last_review(user) -> None:
    project = create_project(user, "Iterated", CODE)
    session, _ = get_or_create_session(project, "global")
    asked = ConversationMessage.objects.create(
        session=session, role="user", agent="user", content="Zero out line ten"
    )
    first_code = CODE.replace("v10 = 10\n", "v10 = 0\n")
    first = Diff.objects.create(
        session=session, project=project, base_commit=project.current_commit,
        diff_content=unified_diff(CODE, first_code, "agents.py"), patched_code=first_code,
        vibecoder_prompt="Zero out line ten", status=Diff.Status.HUMAN_REJECTED,
        human_feedback="Also zero line eleven",
    )  # fmt: skip
    feedback = ConversationMessage.objects.create(
        session=session, role="user", agent="user", content="Also zero line eleven"
    )
    second_code = first_code.replace("v11 = 11\n", "v11 = 0\n")
    second = Diff.objects.create(
        session=session, project=project, base_commit=project.current_commit,
        diff_content=unified_diff(CODE, second_code, "agents.py"), patched_code=second_code,
        vibecoder_prompt="A person reviewed the diff you produced and rejected it.", previous=first,
    )  # fmt: skip
    for diff, round_, tokens in ((first, 1, 1000), (second, 2, 3000)):  # $0.00045, $0.00135
        usage = {"model": "gpt-5-mini", "prompt_tokens": tokens, "cached_tokens": 0,
                 "completion_tokens": tokens // 10, "total_tokens": tokens * 11 // 10}  # fmt: skip
        ConversationMessage.objects.create(
            session=session, role="assistant", agent="evaluator", iteration=round_,
            token_usage=usage, cost_usd=cost_of_usage(usage), trace_id=f"t{round_}", diff=diff,
        )  # fmt: skip
    client = Client()
    client.force_login(user)

    rejected_html = client.get(f"/diffs/{first.id}/").content.decode()
    follow_up_html = client.get(f"/diffs/{second.id}/").content.decode()

    # The rejected review: its feedback beside the original request, a link onward.
    assert "<h2>Iteration 1 of this change</h2>" in rejected_html
    shown_feedback = '<pre class="content" id="rejection-feedback">Also zero line eleven</pre>'
    assert shown_feedback in rejected_html
    assert '<q id="original-request">Zero out line ten</q>' in rejected_html
    assert f'<a class="next-iteration" href="/diffs/{second.id}/">iteration 2</a>' in rejected_html
    assert 'id="since-last-review"' not in rejected_html
    # The follow-up: asked by the feedback, still showing what was first asked.
    assert f'<q id="asked">{feedback.content}</q>' in follow_up_html
    assert "<h2>Iteration 2 of this change</h2>" in follow_up_html
    assert f'<q id="original-request">{asked.content}</q>' in follow_up_html
    assert f'<a id="previous-iteration" href="/diffs/{first.id}/">iteration 1</a>' in follow_up_html
    assert '<q id="previous-feedback">Also zero line eleven</q>' in follow_up_html
    # Since the last review only line eleven changed (line ten was in both).
    since = follow_up_html.split('id="since-last-review"')[1].split("</details>")[0]
    assert '<td class="ln old">11</td><td class="ln new"></td><td class="sign">-</td>' in since
    assert '<td class="ln old"></td><td class="ln new">11</td><td class="sign">+</td>' in since
    removed_ten = '<td class="sign">-</td><td class="code"><span class="n">v10</span>'
    assert removed_ten not in since and removed_ten in follow_up_html  # in the whole diff
    assert "unchanged lines" in since
    # What the change took counts both runs, as its commit's trailers will.
    assert (
        "Approved in round 2 of 3 of run 2 (after 1 rejected diff) · gpt-5-mini (Evaluator)"
        " · 4,400 tokens · $0.0018 over 2 runs"
    ) in follow_up_html
    assert "Approved in round 1 of 3 · gpt-5-mini (Evaluator) · 1,100 tokens · $0.0005<" in (
        rejected_html
    )


@pytest.mark.django_db
def test_a_lone_review_has_no_iterations_section(user) -> None:
    project = create_project(user, "Lone", CODE)
    session, _ = get_or_create_session(project, "global")
    patched = CODE.replace("v10 = 10\n", "v10 = 0\n")
    diff = Diff.objects.create(
        session=session, project=project, base_commit=project.current_commit,
        diff_content=unified_diff(CODE, patched, "agents.py"), patched_code=patched,
    )  # fmt: skip
    client = Client()
    client.force_login(user)
    assert 'id="iterations"' not in client.get(f"/diffs/{diff.id}/").content.decode()


@pytest.mark.django_db
def test_diffs_made_before_the_link_existed_are_linked_by_their_rejection_prompt(user) -> None:
    import importlib

    from django.apps import apps

    from agents_app.runs import rejection_prompt

    backfill = importlib.import_module("reviews.migrations.0009_backfill_diff_previous")
    project = create_project(user, "Old", CODE)
    session, _ = get_or_create_session(project, "global")
    other_session = VibecodeSession.objects.create(
        project=project, session_type="node", node_id="x"
    )

    def diff(prompt: str, in_session: VibecodeSession = session, **fields: Any) -> Diff:
        patched = CODE.replace("v1 = 1\n", f"v1 = {len(prompt)}\n")
        return Diff.objects.create(
            session=in_session, project=project,
            base_commit=project.current_commit, patched_code=patched,
            diff_content=unified_diff(CODE, patched, "agents.py"), vibecoder_prompt=prompt,
            **fields,
        )  # fmt: skip

    rejected = diff("Change v1", status=Diff.Status.HUMAN_REJECTED, human_feedback="Smaller")
    decoy = diff("Change v1 too", status=Diff.Status.HUMAN_REJECTED, human_feedback="Bigger")
    follow_up = diff(rejection_prompt(rejected, "Smaller"))
    # Same words, another session: not the same change.
    elsewhere = diff(rejection_prompt(decoy, "Bigger"), other_session)
    fresh = diff("Something new")

    backfill.link_iterations(apps, None)

    follow_up.refresh_from_db()
    elsewhere.refresh_from_db()
    fresh.refresh_from_db()
    assert follow_up.previous_id == rejected.id
    assert elsewhere.previous_id is None
    assert fresh.previous_id is None
