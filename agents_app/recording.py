"""Every model response, emitted to the project's browsers and then stored for audit.

The SDK's `on_llm_end` hook is awaited before the run's next step, so responses are
emitted and stored in order, and nothing is saved in the background.
"""

import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from agents import Agent, ModelResponse, RunContextWrapper, RunHooks
from django.utils import timezone

from agents_app import all_agents
from agents_app.errors import head
from agents_app.live import current_target
from agents_app.model_request import model_request
from agents_app.run_state import VibecodeRun
from agents_app.surrogates import scrub, scrub_all
from sessions_app.costs import cost_of_usage, dollars
from sessions_app.events import (
    TokenUsage,
    conversation_message_event,
    emit,
    token_usage_event,
)
from sessions_app.models import ConversationMessage, reasoning_summary
from vibegrapher.lib.background import in_thread

logger = logging.getLogger(__name__)
PREVIEW_CHARS = 20_000


def _dump(item: Any) -> Any:
    if hasattr(item, "model_dump"):
        return item.model_dump(mode="json", exclude_none=True)
    return item


@dataclass(frozen=True)
class ReadableResponse:
    content: str
    patch_preview: str


def readable_response(agent_label: str, output: list[Any]) -> ReadableResponse:
    """What a person reads of one model response: its text, or the patch it submitted.

    Of several `submit_patch` calls in one response, the first is the one reviewed
    (`patch_step`), so it is the preview; the others are listed as not reviewed.
    """
    texts: list[str] = []
    patch = ""
    patches = 0
    for item in map(_dump, output):
        kind = item.get("type")
        if kind == "message":
            texts.extend(
                part.get("text", "") or part.get("refusal", "")
                for part in item.get("content", [])
                if isinstance(part, dict)
            )
        elif kind in ("custom_tool_call", "function_call") and (
            item.get("name") == all_agents.SUBMIT_PATCH
        ):
            description, submitted = _submitted_patch(item)
            patches += 1
            if patches == 1:
                patch = submitted
                texts.append(description or "Submitted a patch.")
            else:
                texts.append(f"Also submitted, not reviewed: {description or 'another patch'}")
    content = "\n".join(t for t in texts if t)
    if agent_label == "evaluator":
        with contextlib.suppress(ValueError):
            verdict = all_agents.Evaluation.model_validate_json(content)
            if verdict.approved:
                content = f"Approved: {verdict.reasoning}\nCommit message: {verdict.commit_message}"
            else:
                # A rejected patch is not committed: its commit message would mislead.
                content = f"Rejected: {verdict.reasoning}"
    elif agent_label == "refiner":
        with contextlib.suppress(ValueError):
            verdict = all_agents.Evaluation.model_validate_json(content)
            content = f"Suggested commit message: {verdict.commit_message}"
    # A function call's JSON arguments may escape a lone surrogate, which no database,
    # channel layer or log can encode: the model is told about it by `submit_patch`.
    return ReadableResponse(content=scrub(content), patch_preview=scrub(patch[:PREVIEW_CHARS]))


def _submitted_patch(item: dict[str, Any]) -> tuple[str, str]:
    """(description, patch) of a `submit_patch` call, custom or function tool."""
    if item.get("type") == "custom_tool_call":
        return all_agents.split_custom_input(item.get("input", ""))
    try:
        arguments = json.loads(item.get("arguments") or "{}")
    except ValueError:
        arguments = {}
    return str(arguments.get("description", "")), str(arguments.get("patch", ""))


def token_usage(
    response: ModelResponse, model: str, agent: str, iteration: int | None
) -> TokenUsage:
    usage = response.usage
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "model": model,
        "agent": agent,
        "iteration": iteration,
        "reasoning_tokens": usage.output_tokens_details.reasoning_tokens,
        "cached_tokens": usage.input_tokens_details.cached_tokens,
    }


def full_response(response: ModelResponse, model: str) -> dict:
    return scrub_all(
        {
            "id": response.response_id,
            "request_id": response.request_id,
            "model": model,
            "output": [_dump(item) for item in response.output],
            "usage": {
                "requests": response.usage.requests,
                "input_tokens": response.usage.input_tokens,
                "output_tokens": response.usage.output_tokens,
                "total_tokens": response.usage.total_tokens,
                "input_tokens_details": _dump(response.usage.input_tokens_details),
                "output_tokens_details": _dump(response.usage.output_tokens_details),
            },
            "raw_usage": response.raw_usage,
        }
    )


def first_patch_call_id(output: list[Any]) -> str:
    for item in map(_dump, output):
        if item.get("name") == all_agents.SUBMIT_PATCH and item.get("call_id"):
            return str(item["call_id"])
    return ""


_LABELS = {all_agents.EVALUATOR_NAME: "evaluator", all_agents.REFINER_NAME: "refiner"}


def _agent_label(agent: Agent[Any]) -> str:
    return _LABELS.get(agent.name, "vibecoder")


class RecordingHooks(RunHooks[Any]):
    """Emit, then store, each model response before the run takes its next step."""

    def __init__(
        self,
        session_id: uuid.UUID,
        project_id: uuid.UUID,
        trace_id: str,
        diff_id: uuid.UUID | None = None,
    ) -> None:
        self.session_id = session_id
        # Set for calls about one diff (commit message refinement): linked in the admin.
        self.diff_id = diff_id
        self.project_id = project_id
        self.trace_id = trace_id
        # The request of the model call under way: stored beside its response.
        self.request: dict[str, Any] | None = None

    def iteration(self, context: RunContextWrapper[Any]) -> int | None:
        run = context.context
        return run.iteration if isinstance(run, VibecodeRun) else None

    async def on_llm_start(
        self,
        context: RunContextWrapper[Any],
        agent: Agent[Any],
        system_prompt: str | None,
        input_items: list[Any],
    ) -> None:
        self.request = model_request(agent, system_prompt, input_items)
        target = current_target()
        if target is not None:
            # The id the response is stored under, and its live deltas sent with.
            target.begin(_agent_label(agent), self.iteration(context))
        last = _dump(input_items[-1]) if input_items else {}
        text = last.get("content") or last.get("output") or last.get("input") or ""
        logger.info(
            "model call agent=%s iteration=%s model=%s prompt=%r",
            _agent_label(agent),
            self.iteration(context),
            agent.model,
            head(text if isinstance(text, str) else json.dumps(text)),
        )

    async def on_llm_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], response: ModelResponse
    ) -> None:
        label = _agent_label(agent)
        run = context.context
        if isinstance(run, VibecodeRun) and label == "vibecoder":
            # The SDK calls this hook before it runs the answer's tools.
            run.reviewed_call_id = first_patch_call_id(response.output)
        iteration = self.iteration(context)
        model = str(agent.model)
        readable = readable_response(label, response.output)
        usage = token_usage(response, model, label, iteration)
        cost = cost_of_usage(usage)
        # What browsers get carries the cost; the stored usage stays as the model sent it.
        priced: TokenUsage = {**usage, "cost_usd": dollars(cost)}
        target = current_target()
        message_id = (target.end() if target is not None else None) or uuid.uuid4()
        created_at = timezone.now()
        logger.info(
            "model response agent=%s iteration=%s response=%r tokens input=%d output=%d total=%d",
            label,
            iteration,
            head(readable.content),
            usage["prompt_tokens"],
            usage["completion_tokens"],
            usage["total_tokens"],
        )
        stored_response = full_response(response, model)
        message_event = conversation_message_event(
            message_id,
            self.session_id,
            "assistant",
            label,
            readable.content,
            readable.patch_preview or None,
            iteration,
            priced,
            created_at,
            reasoning_summary=reasoning_summary(stored_response["output"]),
            diff_id=self.diff_id,
        )
        await emit(self.project_id, message_event)
        await emit(
            self.project_id, token_usage_event(self.session_id, message_id, priced, created_at)
        )
        await in_thread(ConversationMessage.objects.create)(
            id=message_id,
            session_id=self.session_id,
            role=ConversationMessage.Role.ASSISTANT,
            agent=label,
            iteration=iteration,
            content=readable.content,
            patch_preview=readable.patch_preview,
            openai_response=stored_response,
            openai_request=scrub_all(self.request),
            token_usage=usage,
            cost_usd=cost,
            last_response_id=response.response_id or "",
            trace_id=self.trace_id,
            diff_id=self.diff_id,
            created_at=created_at,
        )
        if isinstance(run, VibecodeRun):
            run.round_message_ids.append(message_id)
