"""The `submit_patch` step: apply and parse the patch, then let the Evaluator review it."""

import asyncio
import logging
import uuid
from typing import Any

from agents import RunContextWrapper, Runner
from django.conf import settings

from agents_app import all_agents
from agents_app.agent_cache import cached_agent, run_config
from agents_app.errors import describe_error, head
from agents_app.memory import close_memory, evaluator_key, open_memory
from agents_app.patching import apply_patch, unified_diff
from agents_app.recording import RecordingHooks
from agents_app.run_state import VibecodeRun
from reviews.models import Diff
from sessions_app.models import ConversationMessage
from vibegrapher.background import in_thread

logger = logging.getLogger(__name__)


async def handle_patch(context: RunContextWrapper[Any], patch: str, description: str) -> str:
    """Apply, parse, review: the answer the VibeCoder reads from `submit_patch`."""
    run = context.context
    assert isinstance(run, VibecodeRun)
    result = await asyncio.to_thread(apply_patch, run.original_code, patch, run.filename)
    diff_text = ""
    if result.ok and result.code is not None:
        diff_text = await asyncio.to_thread(
            unified_diff, run.original_code, result.code, run.filename
        )
    if not result.ok or result.code is None:
        logger.info("patch refused session=%s: %s", run.session_id, head(result.error or ""))
        return (
            f"The patch was not applied: {result.error}\n"
            f"Fix it and call {all_agents.SUBMIT_PATCH} again with a diff against the file "
            "exactly as shown."
        )
    if not diff_text:
        return "The patch changes nothing. Submit a diff that makes the requested change."
    try:
        verdict = await evaluate(run, context, description, diff_text, result.code)
    except Exception as exc:
        # The Evaluator's failure ends the run; the VibeCoder cannot fix it.
        run.error = describe_error(exc, agent="Evaluator")
        run.finish("error")
        return "The review failed; the run stops here."
    if verdict.approved:
        run.diff_id = await store_diff(run, diff_text, result.code, verdict)
        run.finish("diff")
        return "Approved by the Evaluator and stored for human review. Stop here."
    if run.iteration >= settings.VIBECODE_MAX_ROUNDS:
        run.final_feedback = verdict.reasoning
        run.finish("max_iterations")
        return f"Rejected by the Evaluator: {verdict.reasoning}\nMax iterations reached."
    run.iteration += 1
    run.round_message_ids.clear()
    return (
        f"Rejected by the Evaluator: {verdict.reasoning}\n"
        "Address this and submit a new patch against the file exactly as shown."
    )


def evaluator_input(run: VibecodeRun, description: str, diff_text: str, new_code: str) -> str:
    return (
        f"Request:\n{run.prompt}\n\n"
        f"Round {run.iteration} of {settings.VIBECODE_MAX_ROUNDS}. "
        f"Patch description: {description or '(none)'}\n\n"
        f"Unified diff:\n{diff_text}\n"
        f"Resulting `{run.filename}`:\n{new_code}"
    )


async def evaluate(
    run: VibecodeRun,
    context: RunContextWrapper[Any],
    description: str,
    diff_text: str,
    new_code: str,
) -> all_agents.Evaluation:
    memory = await open_memory(run.slug, evaluator_key(run.memory_key))
    stream = Runner.run_streamed(
        cached_agent(all_agents.build_evaluator),
        evaluator_input(run, description, diff_text, new_code),
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
    run: VibecodeRun, diff_text: str, new_code: str, verdict: all_agents.Evaluation
) -> uuid.UUID:
    diff = Diff.objects.create(
        session_id=run.session_id,
        project_id=run.project_id,
        base_commit=run.base_commit,
        target_branch=run.branch,
        diff_content=diff_text,
        patched_code=new_code,
        vibecoder_prompt=run.prompt,
        evaluator_reasoning=verdict.reasoning,
        commit_message=verdict.commit_message.strip().splitlines()[0][:500]
        if verdict.commit_message.strip()
        else "",
    )
    ConversationMessage.objects.filter(id__in=run.round_message_ids).update(diff=diff)
    return diff.id
