"""`manage.py export_project SLUG PATH`: the project's repository as a git bundle."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from projects.git import repository as git
from projects.models import Project


class Command(BaseCommand):
    help = "Write a project's git repository as a bundle: `git clone PATH` gives it back."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["slug"]
        if not Project.objects.filter(slug=slug).exists():
            raise CommandError(f"No project with the slug {slug!r}.")
        target: Path = options["path"].resolve()
        if target.exists():
            raise CommandError(f"{target} exists; give a new file name.")
        try:
            git.export_bundle(slug, target)
        except git.GitError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{slug}: bundle written to {target}")
