from django.contrib import admin
from django.utils.safestring import SafeString

from cases.models import BehaviourCase, CaseResult
from sessions_app.admin import ProjectFilter, ReadOnlyAdmin, pretty_json


class CaseProjectFilter(ProjectFilter):
    project_field = "project_id"


@admin.register(BehaviourCase)
class BehaviourCaseAdmin(ReadOnlyAdmin[BehaviourCase]):
    """Read-only: cases change through the project page and the API."""

    list_display = ["name", "project", "in_loop", "version", "updated_at"]
    list_filter = ["in_loop", CaseProjectFilter]
    search_fields = ["name", "input", "rubric"]
    readonly_fields = ["project", "name", "input", "entry", "expectations_json", "rubric",
                       "in_loop", "version", "created_at", "updated_at"]  # fmt: skip
    fields = tuple(readonly_fields)

    @admin.display(description="expectations")
    def expectations_json(self, case: BehaviourCase) -> SafeString | str:
        return pretty_json(case.expectations)


@admin.register(CaseResult)
class CaseResultAdmin(ReadOnlyAdmin[CaseResult]):
    """Read-only: each run of a case, with its trial (transcript) and checks."""

    list_display = ["created_at", "case", "side", "status", "diff", "cost_usd"]
    list_filter = ["status", "side", CaseProjectFilter]
    readonly_fields = ["case", "project", "diff", "side", "commit", "case_version", "trial",
                       "status", "final_output", "checks_json", "judge_passed", "judge_reason",
                       "error", "cost_usd", "created_at"]  # fmt: skip
    fields = tuple(readonly_fields)

    @admin.display(description="checks")
    def checks_json(self, result: CaseResult) -> SafeString | str:
        return pretty_json(result.checks)
