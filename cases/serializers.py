"""The behaviour case API's shapes: a case, and the results shown with it."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases import expectations, reads
from cases.models import BehaviourCase
from vibegrapher.api.async_api import ApiError
from vibegrapher.api.fields import StrictBooleanField, StrictCharField
from vibegrapher.api.text_fields import without_nul

MAX_INPUT_CHARS = 20_000
# What changes what a case runs or checks: a change bumps its version.
VERSIONED = ("input", "entry", "expectations", "rubric")


def duplicate_case_name(name: str) -> str:
    return f"This project already has a behaviour case named {name!r}; choose another name."


class CheckSerializer(serializers.Serializer[None]):
    kind = serializers.CharField()
    expected = serializers.CharField()
    passed = serializers.BooleanField()
    detail = serializers.CharField()


class CaseResultSerializer(serializers.Serializer[None]):
    id = serializers.UUIDField()
    side = serializers.ChoiceField(choices=["head", "base", "patched"])
    commit = serializers.CharField()
    status = serializers.ChoiceField(choices=["passed", "failed", "error"])
    final_output = serializers.CharField(allow_null=True)
    trial_id = serializers.UUIDField(allow_null=True)
    checks = CheckSerializer(many=True)
    judge_passed = serializers.BooleanField(allow_null=True)
    judge_reason = serializers.CharField()
    error = serializers.CharField()
    cost_usd = serializers.FloatField()
    created_at = serializers.DateTimeField()


class BehaviourCaseSerializer(serializers.ModelSerializer[BehaviourCase]):
    project_id = serializers.UUIDField(read_only=True)
    name = StrictCharField(max_length=200)
    input = StrictCharField(max_length=MAX_INPUT_CHARS)
    entry = StrictCharField(max_length=200, required=False, allow_blank=True)
    rubric = StrictCharField(required=False, allow_blank=True)
    in_loop = StrictBooleanField(required=False)
    # Its exact shape is in the OpenAPI document (cases/schema.py).
    expectations = serializers.JSONField(required=False)
    latest_result = serializers.SerializerMethodField(
        help_text="Its newest run on the project's current code (HEAD), if any."
    )

    class Meta:
        model = BehaviourCase
        fields = [
            "id", "project_id", "name", "input", "entry", "expectations", "rubric", "in_loop",
            "version", "latest_result", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["version", "created_at", "updated_at"]

    @extend_schema_field(CaseResultSerializer(allow_null=True))
    def get_latest_result(self, case: BehaviourCase) -> dict[str, Any] | None:
        return reads.result_json(reads.latest_on_head(case))

    def validate_input(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("The input the workflow is given: type something.")
        return without_nul(value)

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("Give the case a name.")
        project = self.context["project"]
        taken = BehaviourCase.objects.filter(project=project, name=value)
        if self.instance is not None:
            taken = taken.exclude(id=self.instance.id)
        if taken.exists():
            # 409, as for a test case: the body is right, the project holds that name.
            raise ApiError(409, duplicate_case_name(value))
        return value

    def validate_expectations(self, value: Any) -> list[dict[str, Any]]:
        try:
            return expectations.validate(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def update(self, instance: BehaviourCase, validated_data: dict[str, Any]) -> BehaviourCase:
        if any(
            key in validated_data and validated_data[key] != getattr(instance, key)
            for key in VERSIONED
        ):
            instance.version += 1
        return super().update(instance, validated_data)


class CaseFromTrialSerializer(serializers.Serializer[None]):
    """A case made from a trial: its input, entry, and what it did as the expectations."""

    from_trial = serializers.UUIDField()
    name = StrictCharField(max_length=200)
    in_loop = StrictBooleanField(required=False, default=False)


class DiffCaseRowSerializer(serializers.Serializer[None]):
    case_id = serializers.UUIDField()
    name = serializers.CharField()
    in_loop = serializers.BooleanField()
    outcome = serializers.ChoiceField(
        choices=["unchanged-pass", "unchanged-fail", "fixed", "regressed", "error"],
        allow_null=True,
    )
    base = CaseResultSerializer(allow_null=True)
    patched = CaseResultSerializer(allow_null=True)
