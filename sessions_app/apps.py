from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Vibecode sessions"

    def ready(self) -> None:
        from sessions_app import daphne_close_reason, daphne_limits

        daphne_limits.install()
        daphne_close_reason.install()
