"""The admin as an audit tool: every stored model response with the request that produced it.

History must not be edited through it: conversation records and sessions are read-only,
and a staff user who is not a superuser sees only their own projects' records.
"""

import json
from typing import Any, TypeVar

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from sessions_app.costs import format_usd
from sessions_app.models import ConversationMessage, VibecodeSession

M = TypeVar("M", bound=Model)


class ReadOnlyAdmin(admin.ModelAdmin[M]):
    """View only: no add, change or delete (the list and detail pages stay)."""

    owner_path = "project__owner"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def get_queryset(self, request: HttpRequest) -> QuerySet[M]:
        records = super().get_queryset(request)
        if request.user.is_superuser:
            return records
        return records.filter(**{self.owner_path: request.user})


def pretty_json(value: object) -> SafeString | str:
    if value is None:
        return "-"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre class="audit-json">{}</pre>', text)


def preformatted(text: str) -> SafeString | str:
    return format_html('<pre class="audit-text">{}</pre>', text) if text else "-"


class ProjectFilter(admin.SimpleListFilter):
    """The projects this user may see (all for a superuser), not every project's name."""

    title = "project"
    parameter_name = "project"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        from projects.models import Project

        projects = Project.objects.all()
        if not request.user.is_superuser:
            projects = projects.filter(owner_id=request.user.pk)
        return [(str(p.id), p.name) for p in projects.order_by("name")]

    project_field = "session__project_id"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.project_field: value}) if value else queryset


class SessionFilter(admin.SimpleListFilter):
    title = "session"
    parameter_name = "session"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        sessions = VibecodeSession.objects.select_related("project")
        if not request.user.is_superuser:
            sessions = sessions.filter(project__owner_id=request.user.pk)
        return [(str(s.id), f"{s.project.name} · {s.session_type} {s.node_id}") for s in sessions]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(session_id=self.value()) if self.value() else queryset


class ModelFilter(admin.SimpleListFilter):
    title = "model"
    parameter_name = "model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        used = model_admin.get_queryset(request).values_list("token_usage__model", flat=True)
        return [(str(m), str(m)) for m in sorted({m for m in used if m})]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(token_usage__model=self.value()) if self.value() else queryset


@admin.register(VibecodeSession)
class VibecodeSessionAdmin(ReadOnlyAdmin[VibecodeSession]):
    list_display = ["openai_session_key", "project", "session_type", "run_state", "updated_at"]
    list_filter = ["session_type", "run_state"]
    search_fields = ["openai_session_key", "node_id"]


@admin.register(ConversationMessage)
class ConversationMessageAdmin(ReadOnlyAdmin[ConversationMessage]):
    """The audit trail: every model response with its request, usage and full stored JSON."""

    owner_path = "session__project__owner"
    list_display = [
        "created_at",
        "agent",
        "iteration",
        "tokens",
        "cost",
        "model_used",
        "project",
        "session_link",
        "diff_link",
    ]
    list_filter = [ProjectFilter, SessionFilter, "agent", ModelFilter, "role", "created_at"]
    list_select_related = ["session__project"]
    search_fields = ["content", "last_response_id", "trace_id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    readonly_fields = [
        "session_link",
        "diff_link",
        "role",
        "agent",
        "action",
        "run_outcome",
        "iteration",
        "content_text",
        "patch_text",
        "tool_inputs",
        "usage_readable",
        "cost",
        "request_readable",
        "response_readable",
        "last_response_id",
        "trace_id",
        "created_at",
    ]

    fields = tuple(readonly_fields)

    class Media:
        css = {"all": ["admin_audit.css"]}

    @admin.display(description="tokens")
    def tokens(self, message: ConversationMessage) -> str:
        total = (message.token_usage or {}).get("total_tokens")
        return "-" if total is None else f"{total:,}"

    @admin.display(description="cost")
    def cost(self, message: ConversationMessage) -> str:
        return "-" if message.cost_usd is None else format_usd(message.cost_usd)

    @admin.display(description="model")
    def model_used(self, message: ConversationMessage) -> str:
        return str((message.token_usage or {}).get("model", ""))

    @admin.display(description="project")
    def project(self, message: ConversationMessage) -> str:
        return message.session.project.name

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

    @admin.display(description="content")
    def content_text(self, message: ConversationMessage) -> SafeString | str:
        return preformatted(message.content)

    @admin.display(description="patch")
    def patch_text(self, message: ConversationMessage) -> SafeString | str:
        return preformatted(message.patch_preview)

    @admin.display(description="custom tool call inputs")
    def tool_inputs(self, message: ConversationMessage) -> SafeString | str:
        # The stored JSON escapes the freeform input into one line; shown here as sent.
        output = (message.openai_response or {}).get("output", [])
        calls = [i for i in output if isinstance(i, dict) and i.get("type") == "custom_tool_call"]
        if not calls:
            return "-"
        return format_html_join(
            "",
            '<p class="audit-tool">{}</p><pre class="audit-text">{}</pre>',
            ((c.get("name", ""), c.get("input", "")) for c in calls),
        )

    @admin.display(description="token usage")
    def usage_readable(self, message: ConversationMessage) -> SafeString | str:
        return pretty_json(message.token_usage)

    @admin.display(description="request sent to the model")
    def request_readable(self, message: ConversationMessage) -> SafeString | str:
        return pretty_json(message.openai_request)

    @admin.display(description="full response")
    def response_readable(self, message: ConversationMessage) -> SafeString | str:
        return pretty_json(message.openai_response)
