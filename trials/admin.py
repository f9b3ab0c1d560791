from django.contrib import admin
from django.utils.safestring import SafeString

from sessions_app.admin import ProjectFilter, ReadOnlyAdmin, preformatted, pretty_json
from trials.models import Trial, TrialSpan


class TrialProjectFilter(ProjectFilter):
    project_field = "project_id"


class TrialSpanInline(admin.TabularInline[TrialSpan, Trial]):
    model = TrialSpan
    fields = ["type", "name", "span_id", "parent_id", "started_at", "ended_at", "data_json"]
    readonly_fields = ["type", "name", "span_id", "parent_id", "started_at", "ended_at",
                       "data_json"]  # fmt: skip
    extra = 0
    can_delete = False

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False

    @admin.display(description="data")
    def data_json(self, span: TrialSpan) -> SafeString | str:
        return pretty_json(span.data)


@admin.register(Trial)
class TrialAdmin(ReadOnlyAdmin[Trial]):
    """Read-only: a trial, its spans (each model response's output and usage included)
    and the sandbox's output, for audit."""

    list_display = ["created_at", "project", "user", "side", "entry", "status", "cost_usd"]
    list_filter = ["status", "side", TrialProjectFilter]
    search_fields = ["input", "final_output", "error"]
    ordering = ["-created_at"]
    readonly_fields = [
        "project", "user", "diff", "side", "commit", "entry", "entry_kind", "input",
        "status", "final_output", "last_agent", "error", "output_text", "requests",
        "input_tokens", "output_tokens", "cost_usd", "duration_ms", "created_at",
        "started_at", "finished_at",
    ]  # fmt: skip
    fields = tuple(readonly_fields)
    inlines = [TrialSpanInline]

    class Media:
        css = {"all": ["admin_audit.css"]}

    @admin.display(description="sandbox output")
    def output_text(self, trial: Trial) -> SafeString | str:
        return preformatted(trial.output)
