import uuid

from django.db import models

from projects.models import Project
from sessions_app.models import VibecodeSession
from vibegrapher.api.text_fields import CleanCharField, CleanJSONField, CleanTextField


class Diff(models.Model):
    """A reviewed change to a project's file, from the Evaluator's approval to a commit."""

    class Status(models.TextChoices):
        EVALUATOR_APPROVED = "evaluator_approved"
        HUMAN_APPROVED = "human_approved"
        HUMAN_REJECTED = "human_rejected"
        COMMITTED = "committed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(VibecodeSession, on_delete=models.CASCADE, related_name="diffs")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="diffs")
    base_commit = CleanCharField(max_length=40)
    target_branch = CleanCharField(max_length=255, default="main")
    diff_content = CleanTextField()
    patched_code = CleanTextField(help_text="The whole file after the diff.")
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.EVALUATOR_APPROVED
    )
    vibecoder_prompt = CleanTextField(blank=True, default="")
    evaluator_reasoning = CleanTextField(blank=True, default="")
    commit_message = CleanCharField(max_length=500, blank=True, default="")
    human_feedback = CleanTextField(blank=True, default="")
    committed_sha = CleanCharField(max_length=40, blank=True, default="")
    test_results = CleanJSONField(null=True, blank=True)
    tests_run_at = models.DateTimeField(null=True, blank=True)
    # Its behaviour cases before and after (`cases.runs.summary` each), in the loop or
    # run on the diff, and what running them cost (counted in the commit's Cost).
    behaviour_results = CleanJSONField(null=True, blank=True)
    behaviour_cost_usd = models.DecimalField(max_digits=12, decimal_places=8, default=0)
    # Set while a test run of this diff is going: the claim that keeps it to one.
    tests_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The server process running them ("host:pid:nonce") and the tests it planned, so a
    # restart can tell at once which runs died with their process, and which tests.
    tests_owner = CleanCharField(max_length=200, blank=True, default="", editable=False)
    tests_planned = CleanJSONField(default=list, blank=True, editable=False)
    # The diff a person rejected, whose feedback started the run that made this one:
    # the iterations of one change, so its commit can count all of them.
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_iterations"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.commit_message or 'diff'} ({self.status})"


class ReviewPreference(models.Model):
    """How one person likes the review page: remembered across browsers."""

    class DiffLayout(models.TextChoices):
        UNIFIED = "unified"
        SPLIT = "split"

    user = models.OneToOneField(
        "auth.User", on_delete=models.CASCADE, primary_key=True, related_name="review_preference"
    )
    diff_layout = models.CharField(
        max_length=10, choices=DiffLayout.choices, default=DiffLayout.UNIFIED
    )

    def __str__(self) -> str:
        return f"{self.user_id}: {self.diff_layout}"
