from django.contrib import admin

from projects.models import Project, TestCase


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    list_display = ["name", "slug", "owner", "current_commit", "updated_at"]
    search_fields = ["name", "slug"]
    list_filter = ["owner"]
    readonly_fields = [
        "slug",
        "repository_path",
        "current_code",
        "current_commit",
        "current_branch",
    ]


@admin.register(TestCase)
class TestCaseAdmin(admin.ModelAdmin[TestCase]):
    __test__ = False

    list_display = ["name", "project", "quick_test", "updated_at"]
    list_filter = ["quick_test", "project"]
