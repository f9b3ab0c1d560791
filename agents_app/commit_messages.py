"""Commit messages the Evaluator refines on request, from a diff and a person's hint."""

from agents import Runner, gen_trace_id

from agents_app import all_agents
from agents_app.agent_cache import cached_agent, run_config
from agents_app.errors import DescribedModelError, describe_error, ensure_model_configured
from agents_app.model_guard import tracked_model_calls
from agents_app.recording import RecordingHooks
from reviews.models import Diff


async def refine_commit_message(diff: Diff, hint: str = "") -> str:
    """The Evaluator's suggested one-line commit message for a diff (not stored)."""
    ensure_model_configured()
    trace_id = gen_trace_id()
    prompt = (
        f"Purpose of the change:\n{diff.vibecoder_prompt}\n\n"
        f"Current commit message: {diff.commit_message}\n"
        f"Hint from the person: {hint or '(none)'}\n\n"
        f"Diff:\n{diff.diff_content}"
    )
    with tracked_model_calls() as calls:
        try:
            result = await Runner.run(
                cached_agent(all_agents.build_message_refiner),
                prompt,
                hooks=RecordingHooks(diff.session_id, diff.project_id, trace_id, diff_id=diff.id),
                run_config=run_config(trace_id, "Vibegrapher commit message"),
                max_turns=2,
            )
        except Exception as exc:
            # Worded here, where the number of retries is known.
            raise DescribedModelError(describe_error(exc, all_agents.REFINER_NAME, calls)) from exc
    verdict = result.final_output
    if not isinstance(verdict, all_agents.Evaluation) or not verdict.commit_message.strip():
        raise ValueError("the commit message refiner did not propose a commit message")
    # A suggestion only: the person chooses to use it; the diff keeps its message.
    return verdict.commit_message.strip().splitlines()[0][:500]
