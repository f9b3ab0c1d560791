"""What test runs keep beyond a diff: each test's result on a commit's code, so that
the base side of a before/after comparison runs once per commit (`before_after`)."""

from django.db import models

from projects.models import Project
from vibegrapher.text_fields import CleanCharField, CleanTextField


class BaseTestResult(models.Model):
    """One test's result on a project's code at a commit: run once, then reused.

    A diff's tests run on its base code and on its patched code; the base side depends
    only on the commit, the test's code and its limits (quick or full), so it is kept
    here and every later diff (or patch of a run) on that commit reads it back.
    """

    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="base_results")
    base_commit = CleanCharField(max_length=40)
    # sha256 of the test's code.
    test_hash = CleanCharField(max_length=64)
    quick = models.BooleanField()
    status = CleanCharField(max_length=20)
    output = CleanTextField(blank=True, default="")
    duration = models.FloatField(default=0.0)
    isolation = CleanCharField(max_length=300, blank=True, default="")
    limit = CleanCharField(max_length=50, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Made by `reviews` (its migration 0007) before this app existed: the table
        # keeps its name rather than being copied.
        db_table = "reviews_basetestresult"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "base_commit", "test_hash", "quick"],
                name="one_base_result_per_commit_and_test",
            )
        ]

    def __str__(self) -> str:
        return f"{self.base_commit[:8]} {self.test_hash[:8]}: {self.status}"
