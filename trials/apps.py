from django.apps import AppConfig


class TrialsConfig(AppConfig):
    """Trial runs: a project's workflow run on an input a person types, in the sandbox,
    its model calls through this server's proxy and its spans streamed live."""

    name = "trials"

    def ready(self) -> None:
        from trials.runs import end_trials_on_shutdown
        from vibegrapher.server import shutdown

        # SIGTERM ends this process's trials, saying so, before daphne stops.
        shutdown.register(end_trials_on_shutdown)
