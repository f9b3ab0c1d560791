"""`manage.py move_repositories --to database`: copy every project's repository, verified."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from projects.git import repository as git
from projects.models import Project


class Command(BaseCommand):
    help = (
        "Copy each project's git repository into the other store (database or filesystem) "
        "and verify every commit's tree in the copy. Safe to run again: what is already "
        "there is only verified. Set GIT_STORAGE to the new store afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", required=True, choices=["database", "filesystem"])

    def handle(self, *args: Any, **options: Any) -> None:
        failed: list[str] = []
        for project_id in Project.objects.order_by("created_at").values_list("id", flat=True):
            with transaction.atomic():
                # No commit lands on the project while its repository is copied.
                project = Project.objects.select_for_update().get(id=project_id)
                try:
                    moved = git.move_repository(project.slug, options["to"])
                except git.GitError as exc:
                    failed.append(project.slug)
                    self.stderr.write(f"{project.slug}: not moved: {exc}")
                    continue
            state = "already there" if moved.already_there else "copied"
            self.stdout.write(
                f"{moved.slug}: {state}, {moved.objects_written} objects written, "
                f"{moved.commits_verified} commits verified"
            )
        if failed:
            raise CommandError(f"{len(failed)} repositories not moved: {', '.join(failed)}")
