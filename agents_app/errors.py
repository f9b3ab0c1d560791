"""What went wrong with a model, in words a person can act on."""

import openai
from agents import MaxTurnsExceeded
from django.conf import settings

from agents_app.all_agents import RETRYABLE_STATUSES
from agents_app.model_guard import ModelCalls, StreamCut, connect_failed
from agents_app.surrogates import scrub

VIBECODER_MAX_TURNS = 12
LOG_HEAD_CHARS = 200


class ModelNotConfigured(Exception):
    """No API key or base URL: the agents cannot reach a model."""


class DescribedModelError(Exception):
    """A model failure already put in words where its retries were known."""


def ensure_model_configured() -> None:
    if not (settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL):
        raise ModelNotConfigured(
            "No model is configured: set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL "
            "for another OpenAI-compatible server, and restart the server."
        )


def head(text: str) -> str:
    """The start of a text on one line, for logs and messages (always encodable)."""
    text = " ".join(scrub(text).split())
    return text if len(text) <= LOG_HEAD_CHARS else text[:LOG_HEAD_CHARS] + "…"


def _clause(text: str) -> str:
    """`text` ready to be followed by ". ": without its own final period."""
    return head(text).rstrip(" .") or "(no message)"


def _server_said(exc: openai.APIStatusError) -> str:
    """The server's own error message, without the client's "Error code: 400 - " prefix."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        return _clause(body["message"])
    return _clause(exc.message)


def _retries(retries: int) -> str:
    return f"{retries} {'retry' if retries == 1 else 'retries'}"


def _after(retries: int) -> str:
    return f" after {_retries(retries)}" if retries else ""


def _tries(retries: int) -> str:
    return f" (tried {retries + 1} times: {_retries(retries)})" if retries else ""


def _refusal(status: int) -> bool:
    """A 4xx that says the request itself is wrong: the retry policy never repeats it."""
    return 400 <= status < 500 and status not in RETRYABLE_STATUSES


def _refused_advice(exc: openai.APIStatusError, agent: str) -> str:
    setting = "THINKING_MODEL" if agent == "VibeCoder" else "SMALL_MODEL"
    said = f"{_server_said(exc)} {exc.code or ''}".lower()
    if "context" in said or "too long" in said or "maximum" in said or exc.status_code == 413:
        return (
            "Make the request shorter (a smaller request, or a new session, whose memory "
            f"starts empty) or choose a model with a longer context ({setting})."
        )
    if exc.status_code == 404:
        return f"Check the model name ({setting}) and OPENAI_BASE_URL."
    return f"Change the request (shorter or simpler) or choose another model ({setting})."


def describe_error(
    exc: BaseException, agent: str = "VibeCoder", calls: ModelCalls | None = None
) -> str:
    """A true message a person can act on.

    `calls` says how many retries the failed request had; "after N retries" is said
    only when there were some.
    """
    if isinstance(exc, DescribedModelError):
        return str(exc)
    retries = calls.retries if calls is not None else 0
    where = settings.OPENAI_BASE_URL or "api.openai.com"
    if isinstance(exc, openai.AuthenticationError):
        return "The model server rejected the API key (401): check OPENAI_API_KEY."
    if isinstance(exc, openai.RateLimitError):
        return (
            f"The model server answered 'rate limited' (429){_after(retries)}: "
            f"{_server_said(exc)}. Wait a minute and send the message again."
        )
    if isinstance(exc, openai.APIStatusError) and _refusal(exc.status_code):
        sent = (
            f"After {_retries(retries)} of earlier failures, this answer was not retried"
            if retries
            else "The request was sent once and not retried"
        )
        return (
            f"The model server refused the {agent}'s request ({exc.status_code}): "
            f"{_server_said(exc)}. {sent}, since the same request would be refused again. "
            f"{_refused_advice(exc, agent)}"
        )
    if isinstance(exc, openai.APIStatusError):
        return (
            f"The model server answered {exc.status_code} to the {agent}{_after(retries)}: "
            f"{_server_said(exc)}. Try again later."
        )
    if isinstance(exc, StreamCut):
        return (
            f"The model server at {where} was reached, but its answer to the {agent} was cut "
            f"off before its end{_tries(retries)}. Send the message again; if this keeps "
            "happening, the server or a proxy in between is dropping long answers."
        )
    if isinstance(exc, openai.APITimeoutError):
        return (
            f"The model server at {where} did not answer the {agent} in time{_after(retries)}. "
            "Try again later."
        )
    if isinstance(exc, openai.APIConnectionError) and not connect_failed(exc):
        return (
            f"The connection to the model server at {where} broke before it answered the "
            f"{agent}{_tries(retries)}: {_clause(str(exc.__cause__ or exc))}. Try again."
        )
    if isinstance(exc, openai.APIConnectionError):
        return (
            f"Could not reach the model server at {where}{_after(retries)}: "
            "check OPENAI_BASE_URL and the network."
        )
    if isinstance(exc, MaxTurnsExceeded):
        return (
            f"The {agent} used all its {VIBECODER_MAX_TURNS} turns without a patch that "
            "applies: rephrase the request or make it smaller."
        )
    return f"The {agent} failed: {type(exc).__name__}: {head(str(exc))}"
