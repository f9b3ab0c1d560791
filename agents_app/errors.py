"""What went wrong with a model, in words a person can act on."""

import openai
from agents import MaxTurnsExceeded
from django.conf import settings

VIBECODER_MAX_TURNS = 12
LOG_HEAD_CHARS = 200


class ModelNotConfigured(Exception):
    """No API key or base URL: the agents cannot reach a model."""


def ensure_model_configured() -> None:
    if not (settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL):
        raise ModelNotConfigured(
            "No model is configured: set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL "
            "for another OpenAI-compatible server, and restart the server."
        )


def head(text: str) -> str:
    """The start of a text on one line, for logs and messages."""
    text = " ".join(text.split())
    return text if len(text) <= LOG_HEAD_CHARS else text[:LOG_HEAD_CHARS] + "…"


def describe_error(exc: BaseException, agent: str = "VibeCoder") -> str:
    """A message a person can act on."""
    if isinstance(exc, openai.AuthenticationError):
        return "The model server rejected the API key (401): check OPENAI_API_KEY."
    if isinstance(exc, openai.RateLimitError):
        return (
            "The model server kept answering 'rate limited' (429) after "
            f"{settings.VIBECODE_MODEL_RETRIES} retries: wait a minute and send the message again."
        )
    if isinstance(exc, openai.APIStatusError):
        return (
            f"The model server answered {exc.status_code} to the {agent} after "
            f"{settings.VIBECODE_MODEL_RETRIES} retries: {head(exc.message)}. Try again later."
        )
    if isinstance(exc, openai.APIConnectionError):
        where = settings.OPENAI_BASE_URL or "api.openai.com"
        return f"Could not reach the model server at {where}: check OPENAI_BASE_URL and network."
    if isinstance(exc, MaxTurnsExceeded):
        return (
            f"The {agent} used all its {VIBECODER_MAX_TURNS} turns without a patch that "
            "applies: rephrase the request or make it smaller."
        )
    return f"The {agent} failed: {type(exc).__name__}: {head(str(exc))}"
