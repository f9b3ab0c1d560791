from django.apps import AppConfig


class CasesConfig(AppConfig):
    """Behaviour cases: what a workflow should answer, checked as trial runs before and
    after each change, in the loop and at review."""

    name = "cases"
