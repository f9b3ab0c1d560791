from django.contrib import admin
from django.utils.safestring import SafeString

from reviews.models import Diff
from sessions_app.admin import ProjectFilter, ReadOnlyAdmin, preformatted, pretty_json


class DiffProjectFilter(ProjectFilter):
    project_field = "project_id"


@admin.register(Diff)
class DiffAdmin(ReadOnlyAdmin[Diff]):
    """Read-only: a diff's status and code change only through review and commit."""

    list_display = ["created_at", "project", "status", "commit_message", "committed_sha"]
    list_filter = ["status", DiffProjectFilter]
    search_fields = ["commit_message", "committed_sha", "base_commit"]
    ordering = ["-created_at"]
    readonly_fields = [
        "project",
        "session",
        "status",
        "base_commit",
        "committed_sha",
        "commit_message",
        "vibecoder_prompt_text",
        "evaluator_reasoning_text",
        "human_feedback",
        "diff_text",
        "patched_code_text",
        "test_results_json",
        "tests_run_at",
        "created_at",
        "updated_at",
    ]

    fields = tuple(readonly_fields)

    class Media:
        css = {"all": ["admin_audit.css"]}

    @admin.display(description="diff")
    def diff_text(self, diff: Diff) -> SafeString | str:
        return preformatted(diff.diff_content)

    @admin.display(description="patched code")
    def patched_code_text(self, diff: Diff) -> SafeString | str:
        return preformatted(diff.patched_code)

    @admin.display(description="VibeCoder prompt")
    def vibecoder_prompt_text(self, diff: Diff) -> SafeString | str:
        return preformatted(diff.vibecoder_prompt)

    @admin.display(description="Evaluator reasoning")
    def evaluator_reasoning_text(self, diff: Diff) -> SafeString | str:
        return preformatted(diff.evaluator_reasoning)

    @admin.display(description="test results")
    def test_results_json(self, diff: Diff) -> SafeString | str:
        return pretty_json(diff.test_results)
