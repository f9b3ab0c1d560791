import uuid

from django.conf import settings
from django.db import models

from vibegrapher.text_fields import CleanCharField, CleanSlugField, CleanTextField


class Project(models.Model):
    """A workflow file under version control: one git repository per project.

    `current_code`, `current_commit` and `current_branch` mirror the repository's
    HEAD; only `projects.git` and the services that call it change them.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = CleanCharField(max_length=100)
    slug = CleanSlugField(max_length=120, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects"
    )
    repository_path = CleanCharField(
        max_length=255, help_text="Relative to MEDIA_ROOT, derived from the slug."
    )
    main_file = CleanCharField(max_length=255, default="agents.py")
    current_code = CleanTextField(blank=True, default="")
    current_commit = CleanCharField(max_length=40, blank=True, default="")
    current_branch = CleanCharField(max_length=255, blank=True, default="main")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class TestCase(models.Model):
    """Python code run in the sandbox against a project's patched file."""

    # Not a pytest test class, despite the name.
    __test__ = False

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="test_cases")
    name = CleanCharField(max_length=100)
    test_code = CleanTextField()
    quick_test = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_test_name_per_project")
        ]

    def __str__(self) -> str:
        return self.name
