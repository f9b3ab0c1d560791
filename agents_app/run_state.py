"""The state one vibecode run carries through the SDK (as the run's context)."""

import uuid
from dataclasses import dataclass, field
from typing import Literal

from agents import RunResultStreaming, gen_trace_id

from agents_app.live import LiveTarget
from agents_app.model_guard import ModelCalls
from cases.runs import Budget

Outcome = Literal[
    "diff", "text", "max_iterations", "refused_by_tests", "patch_refused", "error", "cancelled"
]
# How a run ends whose last patch was refused before review (`agents_app.refusals`).
RefusedOutcome = Literal["refused_by_tests", "patch_refused"]


@dataclass
class VibecodeRun:
    session_id: uuid.UUID
    project_id: uuid.UUID
    slug: str
    filename: str
    branch: str
    base_commit: str
    original_code: str
    prompt: str
    memory_key: str
    node_id: str = ""
    # What the person wrote (the prompt itself, or their feedback on a rejected diff).
    person_text: str = ""
    # That message's id: the run's outcome is stored on it (`sessions_app.story`).
    person_message_id: uuid.UUID | None = None
    # The rejected diff whose feedback started this run: the new diff's `previous`.
    revises_diff_id: uuid.UUID | None = None
    trace_id: str = field(default_factory=gen_trace_id)
    iteration: int = 1
    outcome: Outcome | None = None
    diff_id: uuid.UUID | None = None
    final_feedback: str = ""
    error: str = ""
    # Messages of the current round, linked to the diff when it is stored.
    round_message_ids: list[uuid.UUID] = field(default_factory=list)
    stream: RunResultStreaming | None = None
    # Where its live text goes: the response being written when the run ends is kept.
    live: LiveTarget | None = None
    # The VibeCoder's model requests: retries of the latest, lone surrogates per call.
    vibecoder_calls: ModelCalls = field(default_factory=ModelCalls)
    # The one `submit_patch` call of the VibeCoder's latest answer that is reviewed.
    reviewed_call_id: str = ""
    # Why the run was stopped from outside, when it was not the server's shutdown.
    stop_reason: str = ""
    # The latest patch's refusal before review (cleared when a patch is reviewed): a
    # run that ends in text after it ends as refused, not as answered.
    refused: RefusedOutcome | None = None
    refused_text: str = ""
    # What its behaviour cases may still spend, across its rounds (`agents_app.behaviour`).
    behaviour_budget: Budget | None = None

    def finish(self, outcome: Outcome) -> None:
        """Record the outcome and let the SDK end the run after this turn.

        `after_turn` lets the tool's output reach the VibeCoder's memory, so its
        history stays consistent for the next message.
        """
        self.outcome = outcome
        if self.stream is not None:
            self.stream.cancel(mode="after_turn")
