"""A run's cost, message by message, and the trailers its reviewed commit carries:
git alone tells how the change was made, and the commits API reads it back."""

import asyncio
import shutil
import subprocess
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from agents_app.tests.conftest import Vibe, change, patch_input, verdict
from projects.storage import repository_dir
from reviews.models import Diff
from sessions_app.models import ConversationMessage
from tests.support.model_server import Usage, custom_tool_call, text

pytestmark = pytest.mark.django_db(transaction=True)

RENAME = change(
    'instructions="Help with invoices."', 'instructions="Help with invoices and refunds."'
)


async def test_a_reviewed_commit_carries_its_trailers_in_git_and_the_commits_api(
    vibe: Vibe, model_server, settings, user
) -> None:
    settings.COMMITTER_NAME, settings.COMMITTER_EMAIL = "Vibegrapher Bot", "bot@vibegrapher.test"
    model_server.script(
        custom_tool_call(
            "submit_patch",
            patch_input("Mention refunds", RENAME),
            usage=Usage(input_tokens=1000, cached_tokens=400, output_tokens=200),
        ),
        text(verdict(False, "Say why."), usage=Usage(input_tokens=500, output_tokens=50)),
        custom_tool_call(
            "submit_patch",
            patch_input("Mention refunds, politely", RENAME),
            usage=Usage(input_tokens=2000, cached_tokens=1500, output_tokens=300),
        ),
        text(
            verdict(True, "Good.", "feat: billing handles refunds"),
            usage=Usage(input_tokens=600, cached_tokens=100, output_tokens=60),
        ),
    )

    finished = await vibe.run("Billing should also handle refunds")

    assert finished["outcome"] == "diff"
    # Every response's cost is in its event and on its stored message: gpt-5 priced
    # (1000-400)*1.25 + 400*0.125 + 200*10 per 1M = $0.0028, cached tokens as cached.
    costs = [e["usage"]["cost_usd"] for e in vibe.events if e["type"] == "token_usage"]
    assert costs == [0.0028, 0.000225, 0.0038125, 0.0002475]
    stored = await sync_to_async(
        lambda: list(
            ConversationMessage.objects.filter(role="assistant")
            .order_by("created_at")
            .values_list("cost_usd", flat=True)
        )
    )()
    assert stored == [Decimal(str(c)) for c in costs]
    diff = await Diff.objects.aget(id=finished["diff_id"])
    diff.test_results = [
        {"name": "a", "status": "passed"},
        {"name": "b", "status": "passed"},
        {"name": "c", "status": "failed", "outcome": "regressed"},
        {"name": "d", "status": "queued"},  # never finished: not counted
    ]
    diff.status = Diff.Status.HUMAN_APPROVED
    await diff.asave()

    committed = await vibe.client.post(
        f"/api/diffs/{diff.id}/commit", {"commit_message": "feat: refunds"},
        content_type="application/json",
    )  # fmt: skip

    assert committed.status_code == 200, committed.content
    sha = committed.json()["committed_sha"]
    commits = (await vibe.client.get(f"/api/projects/{vibe.project.id}/commits")).json()["results"]
    assert commits[0]["sha"] == sha
    assert commits[0]["message"] == "feat: refunds"
    assert commits[0]["author"] == "alice"
    assert commits[0]["diff_id"] == str(diff.id)
    assert commits[0]["session_id"] == vibe.session_id
    assert commits[0]["trailers"] == {
        "Vibegrapher-Diff": str(diff.id),
        "Vibegrapher-Session": vibe.session_id,
        "Evaluator": "approved in round 2 of 3",
        "Models": "gpt-5 (VibeCoder), gpt-5-mini (Evaluator)",
        "Tokens": "4,710 (cached 2,000)",
        "Cost": "$0.0071",
        "Tests": "2 passed, 1 regressed",
    }
    assert commits[1]["trailers"] == {} and commits[1]["diff_id"] is None
    # The diff keeps the message without trailers.
    await diff.arefresh_from_db()
    assert diff.commit_message == "feat: refunds"

    if shutil.which("git") is None:
        pytest.skip("no git command to read the repository with")
    git_dir = str(repository_dir(vibe.project.slug))
    fields = "%an <%ae>|%cn <%ce>|%(trailers:key=Cost,valueonly)%(trailers:key=Evaluator)"
    command = ["git", "--git-dir", git_dir, "log", "-1", f"--format={fields}"]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    log = done.stdout.strip()
    assert log == (
        "alice <alice@vibegrapher.local>|Vibegrapher Bot <bot@vibegrapher.test>|$0.0071\n"
        "Evaluator: approved in round 2 of 3"
    )


async def test_a_commit_after_a_rejection_counts_both_runs_in_its_trailers(
    vibe: Vibe, model_server, user
) -> None:
    """The shipped diff's own run is not the whole cost: the rejected run before it,
    whose feedback started it, is in `Cost`/`Tokens`, and the trailers say so."""

    def approved_run(description: str, vibecoder: Usage, evaluator: Usage) -> list[object]:
        return [
            custom_tool_call("submit_patch", patch_input(description, RENAME), usage=vibecoder),
            text(verdict(True, "Good.", "feat: refunds"), usage=evaluator),
        ]

    # gpt-5: 1000*1.25 + 200*10 per 1M = $0.00325; gpt-5-mini: 500*0.25 + 50*2 = $0.000225.
    model_server.script(
        *approved_run(
            "Mention refunds",
            Usage(input_tokens=1000, output_tokens=200),
            Usage(input_tokens=500, output_tokens=50),
        )
    )
    first = await vibe.run("Billing should also handle refunds")
    assert first["outcome"] == "diff", first
    # $0.0055 + $0.00027: the final run alone would say $0.0058.
    model_server.script(
        *approved_run(
            "Mention refunds, politely",
            Usage(input_tokens=2000, output_tokens=300),
            Usage(input_tokens=600, output_tokens=60),
        )
    )
    rejected = await vibe.client.post(
        f"/api/diffs/{first['diff_id']}/review",
        {"approved": False, "feedback": "Say it politely"},
        content_type="application/json",
    )
    assert rejected.status_code == 200, rejected.content
    second = await vibe.until("run_finished")
    assert second["outcome"] == "diff", second
    diff = await Diff.objects.aget(id=second["diff_id"])
    assert str(diff.previous_id) == first["diff_id"]
    approved = await vibe.client.post(
        f"/api/diffs/{diff.id}/review", {"approved": True}, content_type="application/json"
    )
    assert approved.status_code == 200, approved.content

    committed = await vibe.client.post(
        f"/api/diffs/{diff.id}/commit", {}, content_type="application/json"
    )

    assert committed.status_code == 200, committed.content
    commits = (await vibe.client.get(f"/api/projects/{vibe.project.id}/commits")).json()["results"]
    trailers = commits[0]["trailers"]
    assert trailers["Vibegrapher-Diff"] == str(diff.id)
    assert trailers["Evaluator"] == "approved in round 1 of 3 of run 2 (after 1 rejected diff)"
    assert trailers["Tokens"] == "4,710 (cached 0) over 2 runs"
    assert trailers["Cost"] == "$0.0092 over 2 runs"
    assert trailers["Models"] == "gpt-5 (VibeCoder), gpt-5-mini (Evaluator)"
