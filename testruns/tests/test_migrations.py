"""Moving BaseTestResult from `reviews` to `testruns` keeps what an existing database
holds: the stored base results are read back after the upgrade, and the model's
content type (what permissions point at) follows it."""

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from projects.models import Project
from testruns.models import BaseTestResult

LAST_BEFORE_THE_MOVE = ("reviews", "0009_backfill_diff_previous")
BEFORE_THE_MOVE = [LAST_BEFORE_THE_MOVE, ("testruns", None)]


def migrate_to(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_base_results_stored_before_the_move_are_read_back_after_it() -> None:
    owner = User.objects.create_user("mover")
    project = Project.objects.create(
        name="Moved", slug="moved", owner=owner, repository_path="repos/moved"
    )
    content_type_id = ContentType.objects.get_for_model(BaseTestResult).id
    ContentType.objects.clear_cache()
    try:
        executor = migrate_to(BEFORE_THE_MOVE)
        old_apps = executor.loader.project_state(LAST_BEFORE_THE_MOVE).apps
        OldResult = old_apps.get_model("reviews", "BaseTestResult")
        OldResult.objects.create(
            project_id=project.id,
            base_commit="a" * 40,
            test_hash="b" * 64,
            quick=True,
            status="passed",
            output="ok",
            duration=0.5,
            isolation="bubblewrap",
        )
        old_type = ContentType.objects.get(app_label="reviews", model="basetestresult")
    finally:
        executor = MigrationExecutor(connection)
        migrate_to(executor.loader.graph.leaf_nodes())
        ContentType.objects.clear_cache()

    [stored] = BaseTestResult.objects.filter(project=project)
    assert (stored.base_commit, stored.status, stored.output) == ("a" * 40, "passed", "ok")
    assert old_type.id == content_type_id
    assert ContentType.objects.get_for_model(BaseTestResult).id == content_type_id
    assert not ContentType.objects.filter(app_label="reviews", model="basetestresult").exists()
