"""Every commit made through the review says in git how it came about (its trailers),
and the commits API and the history read them back."""

import pytest
from django.test import Client

from projects.git import repository as git
from projects.git import trailers
from reviews import services
from reviews.models import Diff
from sessions_app.costs import cost_of_usage
from sessions_app.models import ConversationMessage, VibecodeSession


def test_trailers_are_written_and_read_back_as_git_does() -> None:
    message = trailers.with_trailers(
        "feat: refunds\n\nBilling handles them.",
        [("Vibegrapher-Diff", "d1"), ("Cost", "$0.0123"), ("Models", "a (b),\n c")],
    )

    assert message == (
        "feat: refunds\n\nBilling handles them.\n\n"
        "Vibegrapher-Diff: d1\nCost: $0.0123\nModels: a (b), c\n"
    )
    assert trailers.split(message) == (
        "feat: refunds\n\nBilling handles them.",
        [("Vibegrapher-Diff", "d1"), ("Cost", "$0.0123"), ("Models", "a (b), c")],
    )
    # A subject alone is never a trailer, even one that reads like one.
    assert trailers.split("fix: a typo\n") == ("fix: a typo", [])
    # The last paragraph must be all trailers (or their indented continuations).
    assert trailers.split("subject\n\nNot one\nKey: v\n") == ("subject\n\nNot one\nKey: v", [])
    assert trailers.split("s\r\n\r\nA: 1\r\n  more\r\nA: 2\r\n") == (
        "s",
        [("A", "1 more"), ("A", "2")],
    )
    assert trailers.as_dict([("A", "1"), ("B", "x"), ("A", "2")]) == {"A": "1\n2", "B": "x"}
    # Read where pygit2 reads nothing: a "---" line in the message.
    assert trailers.split("s\n---\n\nCost: $1\n")[1] == [("Cost", "$1")]
    with pytest.raises(ValueError, match="not a trailer key"):
        trailers.with_trailers("s", [("Bad key", "v")])


@pytest.mark.django_db
def test_history_links_each_commit_to_its_review_and_conversation_turn(user) -> None:
    from projects.services import create_project
    from sessions_app.services import get_or_create_session

    code = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'
    project = create_project(user, "Linked", code)
    shown = get_or_create_session(project, "global")[0]
    node = get_or_create_session(project, VibecodeSession.SessionType.NODE, "Bot")[0]

    def reviewed(
        session: VibecodeSession, new: str, words: str
    ) -> tuple[Diff, ConversationMessage]:
        asked = ConversationMessage.objects.create(
            session=session, role="user", agent="user", content=words
        )
        base = git.read_head(project.slug, "workflow.py")
        patched = base.code.replace("Help", new, 1)
        diff = Diff.objects.create(
            session=session, project=project, base_commit=base.commit, diff_content="d",
            patched_code=patched, commit_message=words, status=Diff.Status.HUMAN_APPROVED,
        )  # fmt: skip
        if session == shown:  # the Evaluator's approving answer, in round 2
            usage = {"model": "gpt-5-mini", "prompt_tokens": 1000, "cached_tokens": 0,
                     "completion_tokens": 100, "total_tokens": 1100}  # fmt: skip
            ConversationMessage.objects.create(
                session=session, role="assistant", agent="evaluator", iteration=2,
                token_usage=usage, cost_usd=cost_of_usage(usage), trace_id="t1", diff=diff,
            )  # fmt: skip
        services.commit(diff.id, user)
        return diff, asked

    global_diff, global_ask = reviewed(shown, "Assist", "global change")
    node_diff, node_ask = reviewed(node, "Aid", "node change")
    client = Client()
    client.force_login(user)

    page = client.get(f"/projects/{project.id}/").content.decode()

    assert f'href="/diffs/{global_diff.id}/">review</a>' in page
    assert f'href="#message-{global_ask.id}">request</a>' in page
    # A node session's turn is on that session's page.
    assert f'href="/diffs/{node_diff.id}/">review</a>' in page
    assert f'href="/projects/{project.id}/?focus=agent%3ABot#message-{node_ask.id}">request' in page
    # Each entry says how it was made, from its trailers.
    assert (
        "Evaluator approved in round 2 of 3 · gpt-5-mini (Evaluator) · tokens: 1,100 (cached 0)"
        " · $0.0005 · tests: none run"
    ) in page
    assert "Evaluator approved (round not recorded) · none recorded · tokens: 0 (cached 0)" in page
    # The review page says what the change took.
    review = client.get(f"/diffs/{global_diff.id}/").content.decode()
    assert "Approved in round 2 of 3 · gpt-5-mini (Evaluator) · 1,100 tokens · $0.0005" in review
    node_page = client.get(f"/projects/{project.id}/?focus=agent:Bot").content.decode()
    assert f'id="message-{node_ask.id}"' in node_page
    assert f'href="#message-{node_ask.id}">request</a>' in node_page
