from typing import Any

from django.conf import settings
from rest_framework import serializers

from sessions_app.events import PatchRefusal, TokenUsage
from sessions_app.models import ConversationMessage, VibecodeSession
from vibegrapher.api.fields import StrictCharField
from vibegrapher.api.schema import typed_json


class SessionSerializer(serializers.ModelSerializer[VibecodeSession]):
    """The agents' memory key and file (`openai_session_key`, `conversations_db_path`)
    are the server's business, shown in the admin only."""

    project_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = VibecodeSession
        fields = [
            "id",
            "project_id",
            "session_type",
            "node_id",
            "run_state",
            "last_error",
            "run_started_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SessionCreateSerializer(serializers.Serializer[None]):
    session_type = serializers.ChoiceField(
        choices=VibecodeSession.SessionType.choices, default=VibecodeSession.SessionType.GLOBAL
    )
    node_id = StrictCharField(max_length=200, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict) -> dict:
        if attrs["session_type"] == VibecodeSession.SessionType.NODE and not attrs["node_id"]:
            raise serializers.ValidationError(
                {"node_id": "A node session needs node_id: the name of an agent in the code."}
            )
        if attrs["session_type"] == VibecodeSession.SessionType.GLOBAL and attrs["node_id"]:
            raise serializers.ValidationError(
                {"node_id": "Only node sessions take node_id; omit it or use session_type 'node'."}
            )
        return attrs


class MessageSerializer(serializers.ModelSerializer[ConversationMessage]):
    session_id = serializers.UUIDField(read_only=True)
    cost_usd = serializers.FloatField(read_only=True, allow_null=True)
    diff_id = serializers.UUIDField(read_only=True, allow_null=True)
    token_usage = typed_json(TokenUsage | None)
    reasoning_summary = serializers.CharField(read_only=True)
    # Blank on most messages: `action` only on role `event`, `run_outcome` only on the
    # person's message that started a run (once it ended).
    action = serializers.ChoiceField(
        choices=ConversationMessage.Action.choices, allow_blank=True, read_only=True
    )
    run_outcome = serializers.ChoiceField(
        choices=ConversationMessage.RunOutcome.choices, allow_blank=True, read_only=True
    )
    run_error = serializers.CharField(
        read_only=True,
        help_text="The person's message only: why the run it started failed, or was "
        "interrupted (blank otherwise).",
    )
    # Role `check` only: why the server refused the round's patch before review.
    refusal = typed_json(PatchRefusal | None)

    class Meta:
        model = ConversationMessage
        fields = [
            "id",
            "session_id",
            "role",
            "agent",
            "iteration",
            "content",
            "patch_preview",
            "token_usage",
            "cost_usd",
            "trace_id",
            "diff_id",
            "action",
            "run_outcome",
            "run_error",
            "refusal",
            "stopped",
            "reasoning_summary",
            "created_at",
        ]
        read_only_fields = fields


class FullResponseSerializer(serializers.ModelSerializer[ConversationMessage]):
    openai_response = typed_json(
        dict[str, Any] | None, help_text="The model's response as stored, its JSON as sent."
    )
    token_usage = typed_json(TokenUsage | None)

    class Meta:
        model = ConversationMessage
        fields = ["id", "agent", "iteration", "openai_response", "token_usage", "trace_id"]
        read_only_fields = fields


class PromptSerializer(serializers.Serializer[None]):
    prompt = StrictCharField(
        max_length=settings.MAX_PROMPT_CHARS,
        allow_blank=False,
        trim_whitespace=True,
        error_messages={"blank": "The prompt is empty: say what you want changed or asked."},
    )
