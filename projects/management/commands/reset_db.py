"""`manage.py reset_db --yes`: wipe the database and the media directory, then seed."""

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Delete every row and everything under MEDIA_ROOT, then run `seed`."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--yes", action="store_true", help="Confirm: this deletes all data.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["yes"]:
            raise CommandError(
                "This deletes every project, user and repository. Run with --yes to confirm."
            )
        call_command("flush", interactive=False, verbosity=0)
        media = Path(settings.MEDIA_ROOT)
        if media.exists():
            for child in media.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        self.stdout.write("Database and media directory wiped.")
        call_command("seed", stdout=self.stdout)
