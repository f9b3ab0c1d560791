"""What the start-up reconciliation (projects.services.reconcile_all) costs.

Creates N projects in a temporary SQLite database and media directory, then times
`reconcile_all` when every row already matches HEAD (the usual start-up), and when
every project is one commit ahead of its row (as a crash mid-commit leaves one).

Usage: .venv/bin/python bench/reconcile_startup.py [--projects 200]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=200)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vg-reconcile-"))
    os.environ.update(
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{workdir}/db.sqlite3",
        MEDIA_ROOT=str(workdir / "media"),
        LOG_LEVEL="ERROR",
        DJANGO_SETTINGS_MODULE="vibegrapher.settings",
    )
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from projects.git import repository as git
    from projects.services import create_project, reconcile_all

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench")
    code = "from agents import Agent\n\nbot = Agent(name='Bot')\n"
    projects = [create_project(user, f"Bench {n}", code) for n in range(args.projects)]

    started = time.perf_counter()
    moved = reconcile_all()
    in_step = time.perf_counter() - started
    assert moved == 0
    print(f"{args.projects} projects, rows match HEAD:      {in_step * 1000:8.1f} ms")

    for project in projects:  # git one commit ahead of every row
        git.commit_file(project.slug, "agents.py", code + "# more\n", "more", "a", "a@x")
    started = time.perf_counter()
    moved = reconcile_all()
    behind = time.perf_counter() - started
    assert moved == args.projects
    print(f"{args.projects} projects, each 1 commit behind: {behind * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
