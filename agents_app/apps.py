from django.apps import AppConfig
from django.db.models.signals import post_delete


class AgentsAppConfig(AppConfig):
    name = "agents_app"
    verbose_name = "Agents"

    def ready(self) -> None:
        from agents_app.memory import forget_deleted_project
        from agents_app.shutdown import end_runs
        from projects.models import Project
        from vibegrapher.server import shutdown

        # SIGTERM ends this process's runs before daphne stops (the kernel knows no app).
        shutdown.register(end_runs)

        # The agents' memory of a project goes with it (projects does not know agents_app).
        post_delete.connect(
            forget_deleted_project, sender=Project, dispatch_uid="agents_app.forget_project"
        )
