from django.apps import AppConfig


class TestrunsConfig(AppConfig):
    """Sandboxed execution of a project's tests and their results: the sandbox, tests
    on a diff (base and patched), tests at HEAD, and the runner of the loop's quick tests."""

    name = "testruns"

    def ready(self) -> None:
        from testruns.diff_tests import end_test_runs
        from vibegrapher.server import shutdown

        # SIGTERM: diff test runs finish while requests drain, or end as errors.
        shutdown.register(end_test_runs)
