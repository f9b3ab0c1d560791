"""Simultaneous creations of same-named projects against a real daphne.

Each request builds its repository under a private name and moves it into place only
with its row, so no request touches another's files and every slug is unique.
"""

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pygit2
import pytest

from tests.support.servers import AppServer, create_user_and_project

PARALLEL = 12


@pytest.fixture(params=["filesystem", "database"])
def server(
    server_database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[AppServer]:
    app = AppServer(tmp_path, DATABASE_URL=server_database, GIT_STORAGE=request.param)
    app.manage("migrate", "--no-input", "-v0")
    app.start()
    try:
        yield app
    finally:
        app.stop()


@pytest.mark.timeout(200)
def test_parallel_same_named_creations_all_succeed_with_their_own_repository(
    server: AppServer,
) -> None:
    token = create_user_and_project(server)["token"]
    auth = {"Authorization": f"Token {token}"}
    answers: list[httpx.Response] = []
    start = threading.Barrier(PARALLEL)

    def create() -> None:
        with httpx.Client(base_url=server.url, headers=auth, timeout=60) as http:
            start.wait()
            answers.append(http.post("/api/projects", json={"name": "Same Name"}))

    threads = [threading.Thread(target=create) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [201] * PARALLEL, [a.text for a in answers]
    created = [a.json() for a in answers]
    slugs = {p["slug"] for p in created}
    assert len(slugs) == PARALLEL
    assert slugs == {"same-name"} | {f"same-name-{n}" for n in range(2, PARALLEL + 1)}

    media = Path(server.env["MEDIA_ROOT"])
    in_database = server.env["GIT_STORAGE"] == "database"
    with httpx.Client(base_url=server.url, headers=auth, timeout=30) as http:
        for project in created:
            # Each repository is where its row says, with the row's first commit.
            if in_database:
                assert not (media / "projects" / project["slug"]).exists()
            else:
                repo = pygit2.Repository(str(media / "projects" / project["slug"]))
                assert str(repo.head.target) == project["current_commit"]
            commits = http.get(f"/api/projects/{project['id']}/commits")
            assert commits.status_code == 200, commits.text
            assert [c["sha"] for c in commits.json()["results"]] == [project["current_commit"]]
            detail = http.get(f"/api/projects/{project['id']}").json()
            assert detail["slug"] == project["slug"]
    # Nothing left behind: no staging directory, no repository without a row.
    names = sorted(p.name for p in (media / "projects").iterdir())
    assert names == ([] if in_database else sorted(slugs | {"black-box"}))
