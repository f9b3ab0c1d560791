from django.apps import AppConfig


class TestrunsConfig(AppConfig):
    """Sandboxed execution of a project's tests and their results: the sandbox, tests
    on a diff (base and patched), tests at HEAD, and the runner of the loop's quick tests."""

    name = "testruns"
