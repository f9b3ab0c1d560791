import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from sessions_app.models import ConversationMessage, VibecodeSession


@admin.register(VibecodeSession)
class VibecodeSessionAdmin(admin.ModelAdmin[VibecodeSession]):
    list_display = ["openai_session_key", "project", "session_type", "run_state", "updated_at"]
    list_filter = ["session_type", "run_state"]
    search_fields = ["openai_session_key", "node_id"]


@admin.register(ConversationMessage)
class ConversationMessageAdmin(admin.ModelAdmin[ConversationMessage]):
    """The audit trail: every model response with its usage and full stored JSON."""

    list_display = [
        "created_at",
        "agent",
        "iteration",
        "tokens",
        "model_used",
        "session_link",
        "diff_link",
    ]
    list_filter = ["agent", "role", "session"]
    search_fields = ["content", "last_response_id", "trace_id"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "session_link",
        "diff_link",
        "role",
        "agent",
        "iteration",
        "content",
        "patch_preview",
        "usage_readable",
        "response_readable",
        "last_response_id",
        "trace_id",
        "created_at",
    ]
    exclude = ["session", "diff", "openai_response", "token_usage"]

    @admin.display(description="tokens")
    def tokens(self, message: ConversationMessage) -> int | None:
        return (message.token_usage or {}).get("total_tokens")

    @admin.display(description="model")
    def model_used(self, message: ConversationMessage) -> str:
        return str((message.token_usage or {}).get("model", ""))

    @admin.display(description="session")
    def session_link(self, message: ConversationMessage) -> str:
        url = reverse("admin:sessions_app_vibecodesession_change", args=[message.session_id])
        return format_html('<a href="{}">{}</a>', url, message.session)

    @admin.display(description="diff")
    def diff_link(self, message: ConversationMessage) -> str:
        if message.diff_id is None:
            return "-"
        url = reverse("admin:reviews_diff_change", args=[message.diff_id])
        return format_html('<a href="{}">{}</a>', url, message.diff_id)

    @admin.display(description="token usage")
    def usage_readable(self, message: ConversationMessage) -> str:
        return _pretty(message.token_usage)

    @admin.display(description="full response")
    def response_readable(self, message: ConversationMessage) -> str:
        return _pretty(message.openai_response)

    def has_add_permission(self, request: object) -> bool:
        return False


def _pretty(value: object) -> str:
    if value is None:
        return "-"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre style="white-space: pre-wrap; max-width: 100ch">{}</pre>', text)
