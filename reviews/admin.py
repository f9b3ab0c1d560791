from django.contrib import admin

from reviews.models import Diff


@admin.register(Diff)
class DiffAdmin(admin.ModelAdmin[Diff]):
    list_display = ["created_at", "project", "status", "commit_message", "committed_sha"]
    list_filter = ["status", "project"]
    search_fields = ["commit_message", "committed_sha", "base_commit"]
    readonly_fields = ["base_commit", "committed_sha", "diff_content", "created_at", "updated_at"]
