import uuid

from rest_framework import serializers

from reviews.models import Diff
from reviews.results import PairResult
from vibegrapher.fields import StrictBooleanField, StrictCharField
from vibegrapher.schema import typed_json


class DiffSerializer(serializers.ModelSerializer[Diff]):
    project_id = serializers.UUIDField(read_only=True)
    session_id = serializers.UUIDField(read_only=True)
    tests_running = serializers.SerializerMethodField()
    previous_iteration_id = serializers.UUIDField(
        source="previous_id",
        read_only=True,
        allow_null=True,
        help_text="The rejected diff whose feedback started the run that made this one.",
    )
    next_iteration_ids = serializers.SerializerMethodField(
        help_text="The diffs made by runs that this diff's rejection started, oldest first."
    )
    test_results = typed_json(
        list[PairResult] | None, help_text="One per test of the last run, as each finishes."
    )

    class Meta:
        model = Diff
        fields = [
            "id",
            "project_id",
            "session_id",
            "base_commit",
            "target_branch",
            "diff_content",
            "status",
            "vibecoder_prompt",
            "evaluator_reasoning",
            "commit_message",
            "human_feedback",
            "previous_iteration_id",
            "next_iteration_ids",
            "committed_sha",
            "test_results",
            "tests_run_at",
            "tests_running",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_tests_running(self, diff: Diff) -> bool:
        return diff.tests_started_at is not None

    def get_next_iteration_ids(self, diff: Diff) -> list[uuid.UUID]:
        # `.all()`, sorted here: lists prefetch `next_iterations` in one query.
        later = sorted(diff.next_iterations.all(), key=lambda d: (d.created_at, d.id))
        return [d.id for d in later]


class ReviewSerializer(serializers.Serializer[None]):
    approved = StrictBooleanField()
    feedback = StrictCharField(required=False, allow_blank=True, max_length=10_000, default="")

    def validate(self, attrs: dict) -> dict:
        if not attrs["approved"] and not attrs["feedback"].strip():
            raise serializers.ValidationError(
                {"feedback": ["Say what to change: a rejection needs feedback."]}
            )
        return attrs


class CommitSerializer(serializers.Serializer[None]):
    commit_message = StrictCharField(required=False, allow_blank=True, max_length=500)


class RefineSerializer(serializers.Serializer[None]):
    hint = StrictCharField(required=False, allow_blank=True, max_length=2_000, default="")
