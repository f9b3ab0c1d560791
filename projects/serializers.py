import uuid
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from projects.code import InvalidCode, python_text
from projects.code import validate_code as check_code
from projects.git import trailers
from projects.git.repository import DIFF_TRAILER, CommitInfo
from projects.models import Project, TestCase
from projects.services import InvalidName, check_project_name
from vibegrapher.api.api_errors import ApiError
from vibegrapher.api.fields import StrictBooleanField, StrictCharField


class ProjectSerializer(serializers.ModelSerializer[Project]):
    """A project as the API shows it: where its repository lives on the server
    (`repository_path`) is the server's business, shown in the admin only."""

    # The attribute, not `get_username`: DRF inspects a callable's signature on every
    # row (a tenth of the list's time). The username field is `username`.
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "slug",
            "owner",
            "main_file",
            "current_commit",
            "current_branch",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ProjectDetailSerializer(ProjectSerializer):
    class Meta(ProjectSerializer.Meta):
        fields = [*ProjectSerializer.Meta.fields, "current_code"]
        read_only_fields = fields


def represent_projects(rows: Iterable[dict[str, Any]], owner: str) -> list[dict[str, Any]]:
    """What `ProjectSerializer(many=True).data` (or the detail serializer's, when the rows
    hold `current_code`) gives for these rows of `owner`'s (`projects.reads`).

    The project list and a project are read on every page load and by every client's
    polling. DRF builds the serializer's fields per request, then converts each value of
    each row through them (about 1 ms for 50 projects); this is a tenth of that. The two
    are compared field by field in projects/tests/test_reads.py.
    """
    zone = timezone.get_current_timezone()  # once: every lookup takes asgiref's lock
    shown: list[dict[str, Any]] = []
    for row in rows:
        project = {  # the serializer's fields, in its order
            "id": str(row["id"]),
            "name": row["name"],
            "slug": row["slug"],
            "owner": owner,
            "main_file": row["main_file"],
            "current_commit": row["current_commit"],
            "current_branch": row["current_branch"],
            "created_at": _api_datetime(row["created_at"], zone),
            "updated_at": _api_datetime(row["updated_at"], zone),
        }
        if "current_code" in row:
            project["current_code"] = row["current_code"]
        shown.append(project)
    return shown


def _api_datetime(value: datetime, zone: tzinfo) -> str:
    """DRF's DateTimeField output (ISO 8601 in the current time zone, UTC as `Z`)."""
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def validate_code(code: str) -> str:
    """A serializer field validator: the code as Python reads it (no leading BOM, LF line
    endings), or a ValidationError naming the problem."""
    code = python_text(code)
    try:
        check_code(code)
    except InvalidCode as exc:
        raise serializers.ValidationError(str(exc)) from None
    return code


class ProjectCreateSerializer(serializers.Serializer[None]):
    name = StrictCharField(max_length=100, trim_whitespace=True)
    code = StrictCharField(required=False, allow_blank=False, trim_whitespace=False)

    def validate_name(self, name: str) -> str:
        try:
            check_project_name(name)
        except InvalidName as exc:
            raise serializers.ValidationError(str(exc)) from None
        return name

    def validate_code(self, code: str) -> str:
        return validate_code(code)


class CommitSerializer(serializers.Serializer[Any]):
    sha = serializers.CharField()
    message = serializers.CharField()
    author = serializers.CharField(source="author_name")
    author_email = serializers.CharField()
    time = serializers.DateTimeField(source="committed_at")
    # The message's git trailers by key (a repeated key's values joined by newlines).
    trailers = serializers.SerializerMethodField()
    # From the Vibegrapher-Diff and Vibegrapher-Session trailers; null on other commits.
    diff_id = serializers.SerializerMethodField()
    session_id = serializers.SerializerMethodField()

    def get_trailers(self, commit: CommitInfo) -> dict[str, str]:
        return trailers.as_dict(commit.trailers)

    def get_diff_id(self, commit: CommitInfo) -> str | None:
        return _uuid_or_none(trailers.as_dict(commit.trailers).get(DIFF_TRAILER))

    def get_session_id(self, commit: CommitInfo) -> str | None:
        return _uuid_or_none(trailers.as_dict(commit.trailers).get(trailers.SESSION_TRAILER))


def _uuid_or_none(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None


class NodeSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    variable = serializers.CharField(allow_null=True)
    start_line = serializers.IntegerField()
    end_line = serializers.IntegerField()
    handoffs = serializers.ListField(child=serializers.CharField())
    tools = serializers.ListField(child=serializers.CharField())


def duplicate_test_name(name: str) -> str:
    return f"This project already has a test named {name!r}; choose another name."


class TestCaseSerializer(serializers.ModelSerializer[TestCase]):
    """A test case; `project` comes from the URL on create and never changes."""

    __test__ = False

    project_id = serializers.UUIDField(read_only=True)
    name = StrictCharField(max_length=100, trim_whitespace=True)
    test_code = StrictCharField(trim_whitespace=False)
    quick_test = StrictBooleanField(required=False, default=False)

    class Meta:
        model = TestCase
        fields = ["id", "project_id", "name", "test_code", "quick_test", "created_at", "updated_at"]
        read_only_fields = ["id", "project_id", "created_at", "updated_at"]
        # Uniqueness is checked in validate_name, with a message naming the test.
        validators: list[Any] = []

    def validate_name(self, name: str) -> str:
        project = self.context["project"]
        others = TestCase.objects.filter(project=project, name=name)
        if self.instance is not None:
            others = others.exclude(id=self.instance.id)
        if others.exists():
            # Well-formed, but taken: a conflict with the project's state, not bad input.
            raise ApiError(409, duplicate_test_name(name))
        return name

    def validate_test_code(self, code: str) -> str:
        return validate_code(code)
