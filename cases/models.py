"""A behaviour case, and each of its runs on one version of the workflow's code."""

import uuid

from django.db import models

from projects.models import Project
from reviews.models import Diff
from trials.models import Trial
from vibegrapher.api.text_fields import CleanCharField, CleanJSONField, CleanTextField


class BehaviourCase(models.Model):
    """An input and what the workflow's answer to it must (not) do (`cases.expectations`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cases")
    name = CleanCharField(max_length=200)
    input = CleanTextField()
    # The agent or workflow function to run ("": the graph's entry).
    entry = CleanCharField(max_length=200, blank=True, default="")
    # [{"kind": "output_contains", "text": "..."}, ...]: `cases.expectations.KINDS`.
    expectations = CleanJSONField(default=list)
    # Judged by the judge agent (SMALL_MODEL): "" for none.
    rubric = CleanTextField(blank=True, default="")
    # Run on every patch of a vibecode run, before the Evaluator.
    in_loop = models.BooleanField(default=False)
    # Bumped by every change to what is run or checked: a base result is reused only
    # for the same version.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="one_case_name_per_project")
        ]

    def __str__(self) -> str:
        return self.name


class CaseResult(models.Model):
    """One run of a case on one version of the code: its trial, checks and verdict."""

    class Status(models.TextChoices):
        PASSED = "passed"
        FAILED = "failed"
        # Could not be checked: the budget ran out, the sandbox or the judge failed.
        ERROR = "error"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(BehaviourCase, on_delete=models.CASCADE, related_name="results")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="case_results")
    diff = models.ForeignKey(
        Diff, on_delete=models.SET_NULL, null=True, blank=True, related_name="case_results"
    )
    # head, base or patched (Trial.Side).
    side = CleanCharField(max_length=10)
    # The commit run (HEAD's, or the base's); "" for patched code.
    commit = CleanCharField(max_length=40, blank=True, default="")
    case_version = models.PositiveIntegerField()
    trial = models.ForeignKey(
        Trial, on_delete=models.SET_NULL, null=True, blank=True, related_name="case_results"
    )
    status = CleanCharField(max_length=10, choices=Status.choices)
    final_output = CleanTextField(null=True, blank=True)
    # [{"kind", "expected", "passed", "detail"}], the rubric's verdict among them.
    checks = CleanJSONField(default=list)
    judge_passed = models.BooleanField(null=True, blank=True)
    judge_reason = CleanTextField(blank=True, default="")
    error = CleanTextField(blank=True, default="")
    # The trial's model calls and the judge's.
    cost_usd = models.DecimalField(max_digits=12, decimal_places=8, default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["case", "side", "commit", "case_version"])]

    def __str__(self) -> str:
        return f"{self.case_id} {self.side}: {self.status}"
