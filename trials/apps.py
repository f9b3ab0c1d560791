from django.apps import AppConfig


class TrialsConfig(AppConfig):
    """Trial runs: a project's workflow run on an input a person types, in the sandbox,
    its model calls through this server's proxy and its spans streamed live."""

    name = "trials"
