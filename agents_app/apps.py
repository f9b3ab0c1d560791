from django.apps import AppConfig
from django.db.models.signals import post_delete


class AgentsAppConfig(AppConfig):
    name = "agents_app"
    verbose_name = "Agents"

    def ready(self) -> None:
        from agents_app import receivers
        from agents_app.memory import forget_deleted_project
        from agents_app.shutdown import end_runs
        from projects.models import Project
        from reviews.signals import diff_committed
        from sessions_app.signals import session_deleting, sessions_read
        from vibegrapher.server import shutdown

        # The agents' memory of a project goes with it (projects does not know agents_app).
        post_delete.connect(
            forget_deleted_project, sender=Project, dispatch_uid="agents_app.forget_project"
        )
        # What sessions_app and reviews announce; they do not import agents_app either.
        sessions_read.connect(receivers.refresh_run_states, dispatch_uid="agents_app.run_states")
        session_deleting.connect(receivers.release_session, dispatch_uid="agents_app.release")
        diff_committed.connect(receivers.forget_evaluator, dispatch_uid="agents_app.evaluator")
        # SIGTERM ends this process's runs before daphne stops (the kernel knows no app).
        shutdown.register(end_runs)
