"""Every agent of Vibegrapher, in one file: the VibeCoder, the Evaluator and `submit_patch`.

The agents are plain configuration; what a run does with a submitted patch lives in
`agents_app.patch_step`, which `agents_app.runs` hands to `build_vibecoder`.
"""

import dataclasses
import functools
import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any

from agents import (
    Agent,
    AgentOutputSchema,
    CustomTool,
    FunctionTool,
    ModelRetrySettings,
    ModelSettings,
    RetryDecision,
    RetryPolicy,
    RetryPolicyContext,
    RunContextWrapper,
    function_tool,
    retry_policies,
)
from agents.models import gpt_5_reasoning_settings_required
from agents.tool_context import ToolContext
from django.conf import settings
from openai.types.shared import Reasoning
from pydantic import BaseModel, Field

from agents_app.model_guard import note_retry

VIBECODER_NAME = "VibeCoder"
EVALUATOR_NAME = "Evaluator"
# The Evaluator's model asked, on a person's request, for a better commit message.
REFINER_NAME = "Commit message refiner"
SUBMIT_PATCH = "submit_patch"

# Status codes worth another attempt: rate limits and the server's own failures.
RETRYABLE_STATUSES = (408, 409, 429, 500, 502, 503, 504)


def thinking_model() -> str:
    return settings.THINKING_MODEL


def small_model() -> str:
    return settings.SMALL_MODEL


def uses_responses_api() -> bool:
    return settings.OPENAI_API == "responses"


def counted(policy: RetryPolicy) -> RetryPolicy:
    """`policy`, noting each retry it grants in the run's `ModelCalls`.

    So that an error message says "after N retries" only when N retries happened (a
    400 is never retried). Without `previous_response_id`, nothing in the SDK vetoes
    a retry the policy grants.
    """

    @functools.wraps(policy)  # keeps the SDK's capability marks on the policy
    async def policy_counting_retries(context: RetryPolicyContext) -> bool | RetryDecision:
        decision = policy(context)
        if inspect.isawaitable(decision):
            decision = await decision
        if decision is True or (isinstance(decision, RetryDecision) and decision.retry):
            note_retry()
        return decision

    return policy_counting_retries


# Retried: rate limits, the server's own failures, and network errors, which include
# an answer cut mid-stream (`model_guard.StreamCut`). Never retried: other 4xx, which
# say the request itself is wrong (too long, unknown model, bad key).
RETRY_POLICY = counted(
    retry_policies.any(
        retry_policies.provider_suggested(),
        retry_policies.network_error(),
        retry_policies.http_status(RETRYABLE_STATUSES),
    )
)


# OpenAI's reasoning models besides gpt-5* (which the SDK recognises itself).
O_SERIES = re.compile(r"^o\d")


def is_reasoning_model(model: str) -> bool:
    """Whether `model` reasons (and accepts `reasoning` settings): gpt-5* but its chat
    aliases, and the o-series. Other models (gpt-4o, gpt-4.1, local servers' models)
    refuse the parameter, so they are never sent it."""
    name = model.rsplit("/", 1)[-1].lower()
    return gpt_5_reasoning_settings_required(name) or bool(O_SERIES.match(name))


def reasoning(model: str) -> Reasoning | None:
    """The reasoning settings for `model`: a summary to stream, and the effort if set.

    Only on the Responses API: Chat Completions has no reasoning summaries (the SDK
    would send the effort alone), so there the model keeps its own defaults.
    """
    if not uses_responses_api() or not is_reasoning_model(model):
        return None
    wanted: dict[str, Any] = {}
    if settings.REASONING_SUMMARY:
        wanted["summary"] = settings.REASONING_SUMMARY
    if settings.REASONING_EFFORT:
        wanted["effort"] = settings.REASONING_EFFORT
    return Reasoning(**wanted) if wanted else None


def model_settings(model: str) -> ModelSettings:
    """Retries are the SDK's (the openai client's own are turned off in `agent_cache`).

    gpt-5 models reject temperature/top_p other than 1, so neither is set. Streamed
    Chat Completions report usage only when asked to. Reasoning models are asked for
    a summary of their reasoning, which the page shows as it is written.
    """
    return ModelSettings(
        include_usage=True,
        reasoning=reasoning(model),
        retry=ModelRetrySettings(
            max_retries=settings.VIBECODE_MODEL_RETRIES,
            backoff={"initial_delay": 0.5, "max_delay": 8.0, "multiplier": 2.0, "jitter": True},
            policy=RETRY_POLICY,
        ),
    )


class Evaluation(BaseModel):
    """The Evaluator's structured verdict on one patch."""

    approved: bool = Field(description="True when the patch does what was asked and is valid.")
    reasoning: str = Field(description="Why, in a few sentences; concrete fixes when rejecting.")
    commit_message: str = Field(
        description="A conventional one-line commit message (e.g. 'feat: add refund tool')."
    )


VIBECODER_INSTRUCTIONS = f"""\
You are the VibeCoder. You change one Python file that defines an OpenAI Agents SDK
workflow, at a person's request.

Each request shows the file as it is now, with line numbers. The numbers and the
" | " separator are for reference only; they are not part of the file.

Decide which of two modes the request needs:
1. A question or a request that needs no change: answer in plain text. Do not call
   any tool.
2. A change: call `{SUBMIT_PATCH}` once with the whole change as one unified diff
   against the file exactly as shown (`--- a/FILE`, `+++ b/FILE`, `@@ -l,n +l,n @@`
   hunks, three lines of context, context lines copied exactly). Touch only that file.
   Keep the result valid Python and valid Agents SDK code: Agent(...) definitions,
   handoffs, @function_tool functions and the Runner entry point.

`{SUBMIT_PATCH}` answers with what happened: an error (the patch did not apply or
the result does not parse) that you should fix and resubmit, or the Evaluator's
rejection with its reasons, which you should address in a new patch against the
same file. When it says the patch was approved, stop.
"""

EVALUATOR_INSTRUCTIONS = """\
You are the Evaluator. You review one patch to a Python file that defines an OpenAI
Agents SDK workflow, before a person sees it.

Approve only when all hold:
- the patch does what the request asked, and nothing unrelated;
- the resulting file is valid Agents SDK code (agents, handoffs, tools and the
  Runner entry point still fit together; no dangling names);
- it is the smallest clear change that does the job.

When you reject, say concretely what to fix. Always write `commit_message`: one
line in the Conventional Commits style (`feat: ...`, `fix: ...`, `refactor: ...`),
imperative, at most 72 characters, describing the change as it stands.
"""

REFINE_INSTRUCTIONS = """\
You write commit messages. Given a diff, its purpose and optionally a person's
hint, answer with `approved: true`, a one-sentence `reasoning`, and an improved
one-line Conventional Commits `commit_message` (at most 72 characters).
"""

PatchHandler = Callable[[RunContextWrapper[Any], str, str], Awaitable[str]]


def split_custom_input(raw: str) -> tuple[str, str]:
    """The freeform tool's input: the description on the first line, the diff after it."""
    first, _, rest = raw.partition("\n")
    if first.lstrip().startswith(("---", "diff --git", "@@", "*** Begin Patch")):
        return "", raw
    return first.strip(), rest


def submit_patch_tool(handle: PatchHandler) -> CustomTool | FunctionTool:
    """`submit_patch` as a freeform custom tool on Responses, a function tool elsewhere.

    Both call `handle(context, patch, description)` and return its text to the model.
    The custom tool carries the diff as raw text: JSON-escaping a diff measurably
    hurts models' edits, and Chat Completions servers lack custom tools.
    """
    description = (
        "Submit your change as a unified diff against the current file. "
        "It is applied, checked with the Python parser and reviewed by the Evaluator."
    )
    if uses_responses_api():

        async def invoke(context: ToolContext[Any], raw: str) -> str:
            summary, patch = split_custom_input(raw)
            return await handle(context, patch, summary)

        return CustomTool(
            name=SUBMIT_PATCH,
            description=description
            + " Input: a one-line description of the change, then the diff on the next lines.",
            on_invoke_tool=invoke,
        )

    @function_tool(name_override=SUBMIT_PATCH, description_override=description)
    async def submit_patch(context: RunContextWrapper[Any], patch: str, description: str) -> str:
        """Submit a unified diff.

        Args:
            patch: The unified diff against the current file.
            description: One line saying what the change does.
        """
        return await handle(context, patch, description)

    return submit_patch


def build_vibecoder(handle_patch: PatchHandler) -> Agent[Any]:
    return Agent(
        name=VIBECODER_NAME,
        instructions=VIBECODER_INSTRUCTIONS,
        model=thinking_model(),
        # One patch per answer: the run reviews one patch per round (`patch_step`).
        model_settings=dataclasses.replace(
            model_settings(thinking_model()), parallel_tool_calls=False
        ),
        tools=[submit_patch_tool(handle_patch)],
    )


# Built once: given the class, the SDK builds its JSON schema again on every turn
# (about 5 ms of a run's CPU); given the schema, it uses it as it is.
EVALUATION_OUTPUT = AgentOutputSchema(Evaluation)


def build_evaluator() -> Agent[Any]:
    return Agent(
        name=EVALUATOR_NAME,
        instructions=EVALUATOR_INSTRUCTIONS,
        model=small_model(),
        model_settings=model_settings(small_model()),
        output_type=EVALUATION_OUTPUT,
    )


def build_message_refiner() -> Agent[Any]:
    return Agent(
        name=REFINER_NAME,
        instructions=REFINE_INSTRUCTIONS,
        model=small_model(),
        model_settings=model_settings(small_model()),
        output_type=EVALUATION_OUTPUT,
    )
