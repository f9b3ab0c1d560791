import uuid

from django.conf import settings
from django.db import models

from vibegrapher.api.text_fields import CleanCharField, CleanSlugField, CleanTextField


class Project(models.Model):
    """A workflow file under version control: one git repository per project.

    `current_code`, `current_commit` and `current_branch` mirror the repository's
    HEAD; only `projects.git.repository` and the services that call it change them.
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


class GitObject(models.Model):
    """One git object of a project's repository (GIT_STORAGE=database).

    Keyed by the repository (the project's slug, as its directory is named on the
    filesystem) and the object id; `data` is the object's content zlib-compressed, as
    git stores a loose object. Objects never change: only refs move.
    """

    repository = models.CharField(max_length=120)
    oid = models.CharField(max_length=40)
    type = models.PositiveSmallIntegerField(help_text="libgit2's object type: 1 commit ... 4 tag")
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "oid"], name="unique_git_object")
        ]

    def __str__(self) -> str:
        return f"{self.repository} {self.oid}"


class GitRef(models.Model):
    """A branch of a project's repository (GIT_STORAGE=database).

    Moved only by compare-and-swap (`UPDATE ... WHERE target = <old>`) inside the
    transaction that also changes the project's row, so the database decides whether
    HEAD moved, and a commit's ref and rows are saved together or not at all.
    """

    repository = models.CharField(max_length=120)
    name = models.CharField(max_length=255)
    target = models.CharField(max_length=40)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "name"], name="unique_git_ref")
        ]

    def __str__(self) -> str:
        return f"{self.repository} {self.name} -> {self.target}"
