import uuid

from django.db import models

from projects.models import Project
from vibegrapher.api.text_fields import CleanCharField, CleanJSONField, CleanTextField


class VibecodeSession(models.Model):
    """A conversation with the agents about one project (global) or one agent in it (node)."""

    class SessionType(models.TextChoices):
        GLOBAL = "global"
        NODE = "node"

    class RunState(models.TextChoices):
        IDLE = "idle"
        RUNNING = "running"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sessions")
    session_type = models.CharField(
        max_length=10, choices=SessionType.choices, default=SessionType.GLOBAL
    )
    node_id = CleanCharField(max_length=200, blank=True, default="")
    openai_session_key = CleanCharField(max_length=400, unique=True)
    conversations_db_path = CleanCharField(max_length=255, help_text="Relative to MEDIA_ROOT.")
    run_state = models.CharField(max_length=12, choices=RunState.choices, default=RunState.IDLE)
    run_started_at = models.DateTimeField(null=True, blank=True)
    # Which server process runs the session's run, and when it last said it was alive:
    # how a restarted process, or any other, tells a dead run from a live one.
    run_owner = CleanCharField(max_length=200, blank=True, default="")
    run_heartbeat_at = models.DateTimeField(null=True, blank=True)
    # A person asked to stop the run while another process owned it: that owner's
    # heartbeat reads this and stops its run (`agents_app.runs.cancel_run`).
    run_cancel_requested = models.BooleanField(default=False)
    last_error = CleanTextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "session_type", "node_id"], name="one_session_per_scope"
            )
        ]

    def __str__(self) -> str:
        return self.openai_session_key


class ConversationMessage(models.Model):
    """One message a person reads, with the full model response kept for audit."""

    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        # Something the person did outside the chat (approved, rejected, committed a
        # diff): part of the conversation's story, never sent to a model.
        EVENT = "event"
        # A check of a patch by the server, not a model: it refused the patch before
        # review (`refusal` says why). Shown as a step of the round; never sent to a model.
        CHECK = "check"

    class Agent(models.TextChoices):
        USER = "user"
        VIBECODER = "vibecoder", "VibeCoder"
        EVALUATOR = "evaluator"
        # The server's own checks of a patch (role CHECK).
        SYSTEM = "system", "Checks"
        # The Evaluator's model asked for a better commit message on one diff.
        REFINER = "refiner", "Commit message refiner"

    class Action(models.TextChoices):
        APPROVED = "approved"
        REJECTED = "rejected"
        COMMITTED = "committed"

    class RunOutcome(models.TextChoices):
        """How the run a person's message started ended (stored on that message)."""

        DIFF = "diff", "diff ready for review"
        TEXT = "text", "answered"
        MAX_ITERATIONS = "max_iterations", "no approved patch within the rounds"
        # The run's last patch was refused before review, and no later one was reviewed.
        REFUSED_BY_TESTS = "refused_by_tests", "patch refused by tests"
        PATCH_REFUSED = "patch_refused", "patch refused (not applied)"
        CANCELLED = "cancelled", "stopped"
        FAILED = "failed"
        INTERRUPTED = "interrupted", "interrupted (server restart)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(VibecodeSession, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    agent = models.CharField(max_length=10, choices=Agent.choices)
    iteration = models.PositiveSmallIntegerField(null=True, blank=True)
    content = CleanTextField(blank=True, default="")
    patch_preview = CleanTextField(blank=True, default="")
    openai_response = CleanJSONField(null=True, blank=True)
    # What was sent for that response: instructions, input items, tools, settings.
    openai_request = CleanJSONField(null=True, blank=True)
    token_usage = CleanJSONField(null=True, blank=True)
    # US dollars, priced when stored (`sessions_app.costs`); null for a model without a price.
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    last_response_id = CleanCharField(max_length=200, blank=True, default="")
    trace_id = CleanCharField(max_length=200, blank=True, default="")
    diff = models.ForeignKey(
        "reviews.Diff", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    # Role EVENT only: which of the person's actions this records.
    action = models.CharField(max_length=10, choices=Action.choices, blank=True, default="")
    # Role USER only: how the run this message started ended ("" while it runs).
    run_outcome = models.CharField(
        max_length=20, choices=RunOutcome.choices, blank=True, default=""
    )
    # Role USER only: why the run this message started failed or was interrupted.
    run_error = CleanTextField(blank=True, default="")
    # Role CHECK only: why the patch was refused (`sessions_app.events.PatchRefusal`).
    refusal = CleanJSONField(null=True, blank=True)
    # A response cut off when its run was stopped, failed or interrupted: what was
    # streamed of it before then (`agents_app.runs`).
    stopped = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.agent} #{self.iteration or 0}: {self.content[:40]}"

    @property
    def reasoning_summary(self) -> str:
        """The model's reasoning summary, from the stored response ("" if none)."""
        return reasoning_summary((self.openai_response or {}).get("output"))


def reasoning_summary(output: object) -> str:
    """The summary texts of a response's reasoning items (dumped to JSON), joined."""
    if not isinstance(output, list):
        return ""
    texts = [
        part.get("text", "")
        for item in output
        if isinstance(item, dict) and item.get("type") == "reasoning"
        for part in item.get("summary") or []
        if isinstance(part, dict)
    ]
    return "\n\n".join(t for t in texts if t)
