from django import forms
from django.contrib import admin

from projects.code import InvalidCode, validate_code
from projects.models import Project, TestCase


class TestCaseForm(forms.ModelForm[TestCase]):
    """A test case edited in the admin is checked as the API checks it."""

    __test__ = False

    class Meta:
        model = TestCase
        fields = ["project", "name", "test_code", "quick_test"]

    def clean_test_code(self) -> str:
        code: str = self.cleaned_data["test_code"]
        try:
            validate_code(code)
        except InvalidCode as exc:
            raise forms.ValidationError(str(exc)) from None
        return code


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

    form = TestCaseForm

    list_display = ["name", "project", "quick_test", "updated_at"]
    list_filter = ["quick_test", "project"]
