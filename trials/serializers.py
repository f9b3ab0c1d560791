"""The trial API's request and answer shapes."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trials.models import Trial, TrialSpan
from vibegrapher.api.fields import StrictCharField
from vibegrapher.api.text_fields import without_nul

MAX_INPUT_CHARS = 20_000


class TrialStartSerializer(serializers.Serializer[None]):
    input = StrictCharField(max_length=MAX_INPUT_CHARS)
    diff_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    side = serializers.ChoiceField(
        choices=[Trial.Side.PATCHED.value, Trial.Side.BASE.value],
        required=False,
        allow_null=True,
        default=None,
    )
    entry = StrictCharField(
        max_length=200, required=False, allow_null=True, allow_blank=True, default=None
    )

    def validate_input(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Type something for the workflow to answer.")
        return without_nul(value)


class TrialSpanSerializer(serializers.ModelSerializer[TrialSpan]):
    id = serializers.CharField(source="span_id")

    class Meta:
        model = TrialSpan
        fields = ["type", "name", "id", "parent_id", "started_at", "ended_at", "data"]


class TrialUsageSerializer(serializers.Serializer[Trial]):
    requests = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class TrialSummarySerializer(serializers.ModelSerializer[Trial]):
    """A trial without its spans (lists)."""

    project_id = serializers.UUIDField()
    diff_id = serializers.UUIDField(allow_null=True)
    usage = serializers.SerializerMethodField()
    cost_usd = serializers.FloatField()

    class Meta:
        model = Trial
        fields = [
            "id", "project_id", "diff_id", "side", "commit", "origin", "entry", "input", "status",
            "final_output", "last_agent", "error", "usage", "cost_usd", "duration_ms",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip

    @extend_schema_field(TrialUsageSerializer)
    def get_usage(self, trial: Trial) -> dict[str, Any]:
        return dict(TrialUsageSerializer(trial).data)


class TrialSerializer(TrialSummarySerializer):
    """A trial with its spans, in the order they started, and the sandbox's output."""

    spans = TrialSpanSerializer(many=True, read_only=True)

    class Meta(TrialSummarySerializer.Meta):
        fields = [*TrialSummarySerializer.Meta.fields, "output", "spans"]
