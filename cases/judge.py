"""The judge: whether an answer meets a case's rubric, in plain words.

An agent on `SMALL_MODEL` with structured output (`Verdict`: passed, reason), run by the
server with its own key (the answer it reads came out of the sandbox as text; nothing
of the sandbox runs here). Its usage is priced like any model call.
"""

from dataclasses import dataclass
from decimal import Decimal

from agents import Agent, ModelSettings, OpenAIProvider, RunConfig, Runner
from django.conf import settings
from pydantic import BaseModel, Field

from sessions_app.costs import cost_of_usage

INSTRUCTIONS = (
    "You judge whether an AI workflow's answer meets a rubric. You are given the input "
    "the workflow received, the rubric, and the workflow's final answer. Judge only "
    "against the rubric, strictly: every part of it must hold. Answer with `passed` and "
    "a one-sentence `reason` that names what is missing or wrong when it fails."
)
MAX_ANSWER_CHARS = 20_000


class Verdict(BaseModel):
    passed: bool = Field(description="True when the answer meets every part of the rubric.")
    reason: str = Field(description="One sentence: why it passes, or what fails.")


@dataclass(frozen=True)
class Judged:
    passed: bool
    reason: str
    cost: Decimal


def _judge() -> Agent[None]:
    return Agent(
        name="Judge",
        instructions=INSTRUCTIONS,
        model=settings.SMALL_MODEL,
        output_type=Verdict,
        model_settings=ModelSettings(),
    )


def _run_config() -> RunConfig:
    provider = OpenAIProvider(
        api_key=settings.OPENAI_API_KEY or "not-needed",
        base_url=settings.OPENAI_BASE_URL or None,
        use_responses=settings.OPENAI_API == "responses",
    )
    return RunConfig(model_provider=provider, tracing_disabled=True, workflow_name="Judge")


async def judge(rubric: str, case_input: str, answer: str | None) -> Judged:
    """The verdict on `answer`; raises what the model call raised."""
    text = (
        f"Input:\n{case_input}\n\nRubric:\n{rubric}\n\n"
        f"Answer:\n{(answer or '(no answer)')[:MAX_ANSWER_CHARS]}"
    )
    result = await Runner.run(_judge(), text, run_config=_run_config(), max_turns=2)
    verdict = result.final_output
    if not isinstance(verdict, Verdict):
        raise ValueError("the judge did not return a verdict")
    usage = result.context_wrapper.usage
    cost = cost_of_usage(
        {
            "model": settings.SMALL_MODEL,
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "cached_tokens": usage.input_tokens_details.cached_tokens,
        }
    )
    return Judged(verdict.passed, verdict.reason.strip(), cost or Decimal(0))
