"""The `submit_patch` step: apply and parse the patch, then let the Evaluator review it.

A diff the Evaluator approves is stored here and its `diff_created` sent from here, by
the code that made it, before the run's `run_finished`.
"""

import asyncio
import logging
from typing import Any

from agents import RunContextWrapper, Runner
from django.conf import settings
from django.utils import timezone

from agents_app import all_agents, behaviour
from agents_app.agent_cache import cached_agent, run_config
from agents_app.errors import describe_error, head
from agents_app.memory import close_memory, evaluator_key, open_memory
from agents_app.model_guard import ModelCalls, tracked_model_calls
from agents_app.patching.apply import apply_patch
from agents_app.patching.hunks import PatchResult
from agents_app.patching.render import unified_diff
from agents_app.quick_tests import evaluator_section, regression_feedback, run_quick_tests
from agents_app.recording import RecordingHooks
from agents_app.refusals import (
    behaviour_refusal,
    other_refusal,
    record_refusal,
    reviewed,
    tests_refusal,
)
from agents_app.run_state import VibecodeRun
from agents_app.surrogates import surrogate_position
from cases.diff_cases import keep_on_diff
from projects.code import InvalidCode, validate_code
from reviews.models import Diff
from reviews.results import PairResult
from sessions_app.events import diff_created_event, emit
from sessions_app.models import ConversationMessage
from testruns.quick_tests import LoopTests
from vibegrapher.lib.background import in_thread

logger = logging.getLogger(__name__)


ONE_PATCH_PER_ANSWER = (
    "Not reviewed: only one patch per response is reviewed, and this response's first "
    f"{all_agents.SUBMIT_PATCH} call was. Wait for its result; put the whole change in one "
    "diff next time."
)


def lone_surrogate_error(where: str) -> str:
    return (
        f"The patch was not applied: its text has a lone surrogate at {where} of your "
        f"{all_agents.SUBMIT_PATCH} input. That is half of a UTF-16 pair, not a character, "
        "and cannot be stored as UTF-8. Write the character itself (or a Python escape "
        f"such as \\u00e9 in a string literal) and call {all_agents.SUBMIT_PATCH} again."
    )


def applied_notes(result: PatchResult) -> str:
    """What the applier assumed to place hunks (e.g. a context line the patch left out)."""
    return "".join(f"Applied, assuming: {note}\n" for note in result.notes)


def fallback_commit_message(description: str, person_text: str) -> str:
    """A commit message when the Evaluator approved without one: never store an empty one.

    Derived rather than asked for again: another model call costs a round trip and can
    come back empty too, while the VibeCoder's description (or what the person wrote)
    already says what the change does, and a person can still edit or refine it.
    """
    for source in (description, person_text):
        line = next((line.strip() for line in source.splitlines() if line.strip()), "")
        if line:
            return line if len(line) <= 72 else line[:71].rstrip() + "…"
    return "Update agents"


async def handle_patch(context: RunContextWrapper[Any], patch: str, description: str) -> str:
    """Apply, parse, review: the answer the VibeCoder reads from `submit_patch`."""
    run = context.context
    assert isinstance(run, VibecodeRun)
    call_id = str(getattr(context, "tool_call_id", "") or "")
    if run.outcome is not None:
        return "Not reviewed: this run has already ended. Stop here."
    if call_id and run.reviewed_call_id and call_id != run.reviewed_call_id:
        logger.info("second patch in one response ignored session=%s", run.session_id)
        return ONE_PATCH_PER_ANSWER
    where = run.vibecoder_calls.lone_surrogates.get(call_id) or surrogate_position(
        f"{description}\n{patch}"
    )
    if where:
        logger.info("patch with a lone surrogate refused session=%s", run.session_id)
        await record_refusal(run, other_refusal("encoding", f"A lone surrogate at {where}."))
        return lone_surrogate_error(where)
    result = await asyncio.to_thread(apply_patch, run.original_code, patch, run.filename)
    diff_text = ""
    if result.ok and result.code is not None:
        diff_text = await asyncio.to_thread(
            unified_diff, run.original_code, result.code, run.filename
        )
    if not result.ok or result.code is None:
        logger.info("patch refused session=%s: %s", run.session_id, head(result.error or ""))
        await record_refusal(run, other_refusal("apply", result.error or ""))
        return (
            f"The patch was not applied: {result.error}\n"
            f"Fix it and call {all_agents.SUBMIT_PATCH} again with a diff against the file "
            "exactly as shown."
        )
    if not diff_text:
        await record_refusal(run, other_refusal("empty"))
        return "The patch changes nothing. Submit a diff that makes the requested change."
    try:
        # It parses the file again: off the loop, like the applier.
        await asyncio.to_thread(validate_code, result.code, f"The patched {run.filename}")
    except InvalidCode as exc:
        logger.info("patched file refused session=%s: %s", run.session_id, exc)
        await record_refusal(run, other_refusal("invalid", str(exc)))
        return (
            f"The patch was not applied: {exc} Make a change that keeps the file under the "
            f"limit and call {all_agents.SUBMIT_PATCH} again."
        )
    # What the applier assumed to place hunks goes back with the verdict, so the
    # VibeCoder can check it and correct the patch if the assumption was wrong.
    notes = applied_notes(result)
    # The project's quick tests, base and patched: a regression goes straight back.
    tests = await run_quick_tests(run, result.code)
    if tests is not None and tests.regressions:
        logger.info("patch regresses quick tests session=%s", run.session_id)
        await record_refusal(run, tests_refusal(tests))
        return regression_feedback(notes, tests)
    # The in-loop behaviour cases, base and patched: a regression goes straight back too.
    found = await behaviour.run_loop_cases(run, result.code)
    if found is not None and found.regressions:
        logger.info("patch regresses behaviour cases session=%s", run.session_id)
        await record_refusal(run, behaviour_refusal(behaviour.refusal_detail(found)))
        return behaviour.regression_feedback(notes, found)
    reviewed(run)
    calls = ModelCalls()
    try:
        verdict = await evaluate(
            run, context, description, diff_text, result.code, calls, tests, found
        )
    except Exception as exc:
        # The Evaluator's failure ends the run; the VibeCoder cannot fix it.
        logger.warning("evaluator failed session=%s", run.session_id, exc_info=True)
        run.error = describe_error(exc, agent="Evaluator", calls=calls)
        run.finish("error")
        return "The review failed; the run stops here."
    if verdict.approved:
        message = one_line(verdict.commit_message) or fallback_commit_message(
            description, run.person_text or run.prompt
        )
        diff = await store_diff(
            run, diff_text, result.code, verdict, message, tests.results if tests else None
        )
        run.diff_id = diff.id
        if found is not None and found.pairs:
            await keep_on_diff(diff.id, found.pairs)
        await emit(
            run.project_id,
            diff_created_event(diff.id, run.session_id, diff.status, diff.commit_message),
        )
        run.finish("diff")
        return f"{notes}Approved by the Evaluator and stored for human review. Stop here."
    if run.iteration >= settings.VIBECODE_MAX_ROUNDS:
        run.final_feedback = verdict.reasoning
        run.finish("max_iterations")
        return f"{notes}Rejected by the Evaluator: {verdict.reasoning}\nMax iterations reached."
    run.iteration += 1
    run.round_message_ids.clear()
    return (
        f"{notes}Rejected by the Evaluator: {verdict.reasoning}\n"
        "Address this and submit a new patch against the file exactly as shown."
    )


def one_line(message: str) -> str:
    """A commit message's first non-empty line, at most 500 characters."""
    return next((line.strip() for line in message.splitlines() if line.strip()), "")[:500]


def evaluator_input(
    run: VibecodeRun, description: str, diff_text: str, new_code: str, tests: str = ""
) -> str:
    return (
        f"Request:\n{run.prompt}\n\n"
        f"Round {run.iteration} of {settings.VIBECODE_MAX_ROUNDS}. "
        f"Patch description: {description or '(none)'}\n\n"
        f"Unified diff:\n{diff_text}\n"
        f"Resulting `{run.filename}`:\n{new_code}"
        f"{tests}"
    )


async def evaluate(
    run: VibecodeRun,
    context: RunContextWrapper[Any],
    description: str,
    diff_text: str,
    new_code: str,
    calls: ModelCalls,
    tests: LoopTests | None = None,
    found: behaviour.LoopCases | None = None,
) -> all_agents.Evaluation:
    memory = await open_memory(run.slug, evaluator_key(run.memory_key))
    with tracked_model_calls(calls):
        stream = Runner.run_streamed(
            cached_agent(all_agents.build_evaluator),
            evaluator_input(
                run,
                description,
                diff_text,
                new_code,
                evaluator_section(tests) + behaviour.evaluator_section(found),
            ),
            context=run,
            session=memory,
            hooks=RecordingHooks(run.session_id, run.project_id, run.trace_id),
            run_config=run_config(run.trace_id, "Vibegrapher evaluator"),
            max_turns=3,
        )
    try:
        async for _ in stream.stream_events():
            pass
    finally:
        stream.cancel()
        close_memory(memory)
    verdict = stream.final_output
    if not isinstance(verdict, all_agents.Evaluation):
        raise ValueError("the Evaluator did not return a verdict")
    return verdict


@in_thread
def store_diff(
    run: VibecodeRun,
    diff_text: str,
    new_code: str,
    verdict: all_agents.Evaluation,
    commit_message: str,
    test_results: list[PairResult] | None = None,
) -> Diff:
    # The quick tests the loop ran on this very patch are its first test results.
    tested: dict[str, Any] = (
        {"test_results": test_results, "tests_run_at": timezone.now()} if test_results else {}
    )
    diff = Diff.objects.create(
        session_id=run.session_id,
        project_id=run.project_id,
        base_commit=run.base_commit,
        target_branch=run.branch,
        diff_content=diff_text,
        patched_code=new_code,
        vibecoder_prompt=run.prompt,
        evaluator_reasoning=verdict.reasoning,
        commit_message=commit_message,
        previous_id=run.revises_diff_id,
        **tested,
    )
    ConversationMessage.objects.filter(id__in=run.round_message_ids).update(diff=diff)
    return diff
