"""A trial run of a project's workflow, and the spans its run was traced with."""

import uuid

from django.conf import settings
from django.db import models

from projects.models import Project
from reviews.models import Diff
from vibegrapher.api.text_fields import CleanCharField, CleanJSONField, CleanTextField


class Trial(models.Model):
    """The workflow, at one version of its code, run on one input."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"
        TIMEOUT = "timeout"

    class Side(models.TextChoices):
        HEAD = "head"
        PATCHED = "patched"
        BASE = "base"

    class Origin(models.TextChoices):
        PERSON = "person"  # asked for by a person (the page, the API)
        CASE = "case"  # a behaviour case's run

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.TIMEOUT)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="trials")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trials"
    )
    diff = models.ForeignKey(
        Diff, on_delete=models.SET_NULL, null=True, blank=True, related_name="trials"
    )
    side = CleanCharField(max_length=10, choices=Side.choices, default=Side.HEAD)
    # The commit the code was read at (HEAD, or the diff's base); "" for a diff's
    # patched code, which no commit holds yet.
    commit = CleanCharField(max_length=40, blank=True, default="")
    origin = CleanCharField(max_length=10, choices=Origin.choices, default=Origin.PERSON)
    # The agent or function run: "agent:<variable>" is shown as its label.
    entry = CleanCharField(max_length=200, blank=True, default="")
    entry_kind = CleanCharField(max_length=10, blank=True, default="agent")
    input = CleanTextField()
    status = CleanCharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    final_output = CleanTextField(null=True, blank=True)
    last_agent = CleanCharField(max_length=200, blank=True, default="")
    error = CleanTextField(blank=True, default="")
    # The sandbox's output (the workflow's prints and tracebacks), its tail.
    output = CleanTextField(blank=True, default="")
    requests = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=8, default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # The server process running it, its last sign of life, and a cancel asked elsewhere.
    owner = CleanCharField(max_length=200, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at", "-id"])]

    def __str__(self) -> str:
        return f"trial {self.id} ({self.status})"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class TrialSpan(models.Model):
    """One span of the trial's trace (agent, response, function, handoff, guardrail...)."""

    id = models.BigAutoField(primary_key=True)
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="spans")
    span_id = CleanCharField(max_length=100)
    parent_id = CleanCharField(max_length=100, null=True, blank=True)
    type = CleanCharField(max_length=40)
    name = CleanCharField(max_length=300, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    data = CleanJSONField(default=dict)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "span_id"], name="one_row_per_trial_span")
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.name}"
