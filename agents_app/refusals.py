"""A patch refused before review, as a step of the round a person can read.

When `submit_patch` refuses a patch (it does not apply, the patched file does not
parse, it changes nothing, or it breaks a quick test that passes on the current
file), the VibeCoder is told why in the tool's result; the person sees the same
refusal as a stored message of role `check` (like a failed CI check), emitted as a
`conversation_message`, so it is there live and after a reload. The run remembers
the refusal: if it then ends without a reviewed patch, its outcome says the patch was
refused instead of "answered".
"""

import logging
from typing import Literal

from agents_app.run_state import VibecodeRun
from sessions_app import story
from sessions_app.events import PatchRefusal, RefusedTest, emit
from testruns.before_after import output_tail
from testruns.quick_tests import LoopTests
from vibegrapher.lib.background import in_thread

logger = logging.getLogger(__name__)

# What a refusal keeps of a detail (an applier's error can quote much of the file).
DETAIL_CHARS = 4000

_SAID = {
    "apply": "the patch was not applied",
    "invalid": "the patched file is not valid",
    "empty": "the patch changes nothing",
    "encoding": "the patch's text cannot be stored",
}


def _quoted_names(tests: list[RefusedTest]) -> str:
    return ", ".join(f"“{test['name']}”" for test in tests)


def tests_refusal(tests: LoopTests) -> PatchRefusal:
    """The refusal of a patch that breaks quick tests: each one with its output's end."""
    broken: list[RefusedTest] = [
        {
            "name": result["name"],
            "status": result["status"],
            "limit": result["limit"],
            "base_status": result["base"]["status"] if "base" in result else "",
            "output": output_tail(result["output"]),
        }
        for result in tests.regressions
    ]
    count = "a quick test" if len(broken) == 1 else f"{len(broken)} quick tests"
    return {
        "reason": "tests",
        "detail": f"The patch breaks {count} that pass{'es' if len(broken) == 1 else ''} on "
        f"the current file: {_quoted_names(broken)}.",
        "tests": broken,
    }


def behaviour_refusal(detail: str) -> PatchRefusal:
    """The refusal of a patch that breaks behaviour cases (named in `detail`)."""
    return {"reason": "behaviour", "detail": detail, "tests": []}


def other_refusal(
    reason: Literal["apply", "invalid", "empty", "encoding"], detail: str = ""
) -> PatchRefusal:
    """The refusal of a patch that never reached the tests."""
    if len(detail) > DETAIL_CHARS:
        detail = detail[:DETAIL_CHARS] + "…"
    return {"reason": reason, "detail": detail, "tests": []}


def refusal_text(refusal: PatchRefusal) -> str:
    """The step's one-paragraph account, as the conversation shows it."""
    if refusal["reason"] == "tests":
        broke = refusal["detail"].removeprefix("The patch ")
        return f"Refused before review: the patch {broke} The VibeCoder was sent the output."
    if refusal["reason"] == "behaviour":
        broke = refusal["detail"].removeprefix("The patch ")
        return (
            f"Refused before review: the patch {broke} The VibeCoder was sent what the "
            "patched workflow answered."
        )
    said = _SAID[refusal["reason"]]
    detail = refusal["detail"].strip()
    return f"Refused before review: {said}." + (f" {detail}" if detail else "")


async def record_refusal(run: VibecodeRun, refusal: PatchRefusal) -> None:
    """Store the refusal in the run's conversation, tell open browsers, remember it.

    A failure to store it is logged and does not stop the run: the VibeCoder still
    gets its answer and can fix the patch.
    """
    text = refusal_text(refusal)
    by_tests = refusal["reason"] in ("tests", "behaviour")
    run.refused = "refused_by_tests" if by_tests else "patch_refused"
    run.refused_text = text
    try:
        message = await in_thread(story.store_refusal)(run.session_id, run.iteration, text, refusal)
    except Exception:
        logger.exception("could not store a patch refusal session=%s", run.session_id)
        return
    await emit(run.project_id, story.message_event(message, run.project_id))


def reviewed(run: VibecodeRun) -> None:
    """A patch reached the Evaluator: earlier refusals no longer decide the outcome."""
    run.refused = None
    run.refused_text = ""
