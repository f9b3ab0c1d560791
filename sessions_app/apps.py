from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Vibecode sessions"

    def ready(self) -> None:
        from sessions_app import daphne_close_reason, daphne_limits
        from sessions_app.consumers import close_for_restart
        from vibegrapher.server import shutdown

        daphne_limits.install()
        daphne_close_reason.install()
        # SIGTERM: once every request is answered, every socket closes with 1012.
        shutdown.register_closing(close_for_restart)
