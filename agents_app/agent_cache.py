"""Model access for the agents: one OpenAI client per event loop, run configuration,
and agents built once per model settings.

Agents are configuration only (instructions, tools, model settings), so one instance
serves every run until the settings that shape it change (tests change them).
"""

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import openai
from agents import Agent, OpenAIProvider, RunConfig, set_tracing_export_api_key
from django.conf import settings

from agents_app import all_agents
from agents_app.model_guard import GuardedProvider


@functools.cache
def _client(base_url: str, api_key: str, loop_id: int) -> openai.AsyncOpenAI:
    # One client (and connection pool) per event loop. The SDK's retry settings
    # govern retries, so the client's own are off.
    return openai.AsyncOpenAI(
        api_key=api_key or "not-needed", base_url=base_url or None, max_retries=0
    )


def tracing_enabled() -> bool:
    choice = settings.OPENAI_TRACING.lower()
    if choice in ("on", "true", "1"):
        return True
    if choice in ("off", "false", "0"):
        return False
    # Traces go to OpenAI's own host: only worth sending with a real key and no local server.
    return bool(settings.OPENAI_API_KEY) and not settings.OPENAI_BASE_URL


def run_config(trace_id: str, workflow_name: str) -> RunConfig:
    client = _client(
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, id(asyncio.get_running_loop())
    )
    enabled = tracing_enabled()
    if enabled:
        set_tracing_export_api_key(settings.OPENAI_API_KEY)
    return RunConfig(
        model_provider=GuardedProvider(
            OpenAIProvider(openai_client=client, use_responses=all_agents.uses_responses_api())
        ),
        tracing_disabled=not enabled,
        trace_id=trace_id,
        workflow_name=workflow_name,
    )


def _settings_key() -> tuple[Any, ...]:
    return (
        settings.THINKING_MODEL,
        settings.SMALL_MODEL,
        settings.OPENAI_API,
        settings.VIBECODE_MODEL_RETRIES,
        settings.REASONING_SUMMARY,
        settings.REASONING_EFFORT,
    )


@functools.cache
def _built(build: Callable[[], Agent[Any]], key: tuple[Any, ...]) -> Agent[Any]:
    return build()


def cached_agent(build: Callable[[], Agent[Any]]) -> Agent[Any]:
    """The agent `build` makes, built once for the current model settings.

    `build` must be a module-level function: it is the cache key.
    """
    return _built(build, _settings_key())
