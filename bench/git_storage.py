"""Git storage: filesystem vs database (GIT_STORAGE), on PostgreSQL.

For each store and each history length (10 and 500 commits), in one process:
- commit latency: `projects.services.commit_project_code` (the transaction with the
  project's row lock, the objects, the ref move and the row update), N commits;
- `GET /api/projects/{id}/commits` through Django's test client (middleware, token
  auth, view, serializer; no socket), N requests; the first request after the
  process's object cache was emptied is reported apart ("cold").

Prints median and p95 in ms, and database/filesystem ratios. The database is a fresh
one (`vg_gitdb_bench` unless `--database`), created and dropped on the server of
`--server` (default postgres://postgres@127.0.0.1:5432).

Usage: DEBUG=true .venv/bin/python bench/git_storage.py [--commits 30] [--gets 50]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="vg_gitdb_bench")
    parser.add_argument("--commits", type=int, default=30)
    parser.add_argument("--gets", type=int, default=50)
    parser.add_argument("--histories", type=int, nargs="+", default=[10, 500])
    args = parser.parse_args()

    import psycopg

    admin = psycopg.connect(f"{args.server}/postgres", autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{args.database}"')
    media = tempfile.TemporaryDirectory(prefix="vg-bench-git-")
    os.environ.update(
        DATABASE_URL=f"{args.server}/{args.database}",
        MEDIA_ROOT=media.name,
        DJANGO_SETTINGS_MODULE="vibegrapher.settings",
        LOG_LEVEL="ERROR",
        DEBUG=os.environ.get("DEBUG", "true"),
    )
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        media.cleanup()


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from accounts.tokens import create_token
    from projects.git import storage as git_storage
    from projects.services import commit_project_code, create_project

    call_command("migrate", "--no-input", verbosity=0)
    settings.ALLOWED_HOSTS = ["*"]
    user = User.objects.create_user("bench", password="bench-pass-123")
    client = Client(HTTP_AUTHORIZATION=f"Token {create_token(user)}")
    code = "from agents import Agent\n\nbot = Agent(name='Bot', instructions='v0')\n"
    results: dict[tuple[str, int], dict[str, float]] = {}

    for history in args.histories:
        for storage in ("filesystem", "database"):
            settings.GIT_STORAGE = storage
            project = create_project(user, f"{storage} {history}", code)
            head = project.current_commit
            for n in range(1, history):
                head = commit_project_code(
                    project.id, code.replace("v0", f"v{n}"), f"c{n}", "A", "a@x", head
                ).current_commit
            timings = []
            for n in range(args.commits):
                started = time.perf_counter()
                head = commit_project_code(
                    project.id, code.replace("v0", f"x{n}"), f"x{n}", "A", "a@x", head
                ).current_commit
                timings.append((time.perf_counter() - started) * 1000)
            url = f"/api/projects/{project.id}/commits"
            git_storage._cache.forget(project.slug)
            started = time.perf_counter()
            assert client.get(url).status_code == 200
            cold = (time.perf_counter() - started) * 1000
            gets = []
            for _ in range(args.gets):
                started = time.perf_counter()
                response = client.get(url)
                gets.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.content
            results[(storage, history)] = {
                "commit_p50": statistics.median(timings),
                "commit_p95": percentile(timings, 0.95),
                "get_p50": statistics.median(gets),
                "get_p95": percentile(gets, 0.95),
                "get_cold": cold,
            }

    print(f"{'store':<11} {'history':>7}  {'commit p50':>10} {'p95':>7}  "
          f"{'GET commits p50':>15} {'p95':>7} {'cold':>7}   (ms)")  # fmt: skip
    for (storage, history), r in results.items():
        print(
            f"{storage:<11} {history:>7}  {r['commit_p50']:>10.1f} {r['commit_p95']:>7.1f}  "
            f"{r['get_p50']:>15.1f} {r['get_p95']:>7.1f} {r['get_cold']:>7.1f}"
        )
    for history in args.histories:
        fs, db = results[("filesystem", history)], results[("database", history)]
        commit = db["commit_p50"] / fs["commit_p50"]
        get, cold = db["get_p50"] / fs["get_p50"], db["get_cold"] / fs["get_cold"]
        print(
            f"database/filesystem at {history} commits: commit x{commit:.2f}, "
            f"GET commits x{get:.2f} (cold x{cold:.2f})"
        )


if __name__ == "__main__":
    main()
