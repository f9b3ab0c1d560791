"""A commit survives a SIGKILL at any instant: git is the record, the rows follow it.

Real daphne processes on the test pass's database kind (SQLite or PostgreSQL), killed
with a real SIGKILL at each step of `POST /api/diffs/{id}/commit` (the crash points of
vibegrapher/faults.py, armed by VIBEGRAPHER_FAULT_POINT under DEBUG), or by this test
the instant libgit2 touches the branch's ref files (inotify). After a restart the
project's row, the diff and HEAD agree, and further commits work.
"""

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from inotify_simple import INotify, flags  # type: ignore[import-untyped]

from tests.support.servers import AppServer, create_user_and_project

CODE = "from agents import Agent\n\nbot = Agent(name='Bot', instructions='v0')\n"

MAKE_APPROVED_DIFF = """
import json
from projects.models import Project
from reviews.models import Diff
from sessions_app.services import get_or_create_session
project = Project.objects.get(id={project_id!r})
session, _ = get_or_create_session(project, "global")
new_code = project.current_code.replace("instructions='v{n}'", "instructions='v{m}'")
diff = Diff.objects.create(
    session=session, project=project, base_commit=project.current_commit,
    diff_content="(test)", patched_code=new_code, status=Diff.Status.HUMAN_APPROVED,
    commit_message="feat: v{m}",
)
print(json.dumps({{"diff_id": str(diff.id), "new_code": new_code,
                   "base": project.current_commit}}))
"""

# The steps of a commit and whether the commit is made when the process dies there, per
# GIT_STORAGE: on the filesystem the branch moves before the rows are saved (git is the
# record, the rows follow it at start-up); in the database the branch moves in the rows'
# transaction, so it is made only once that transaction ends. The step before the move
# comes last: its diff is retried on an unarmed server.
CRASH_POINTS = {
    "filesystem": [
        ("commit:after-ref-move", True),
        ("commit:after-project-row", True),
        ("commit:after-diff-row", True),
        ("commit:after-transaction", True),
        ("commit:before-ref-move", False),
    ],
    "database": [
        ("commit:after-ref-move", False),
        ("commit:after-project-row", False),
        ("commit:after-diff-row", False),
        ("commit:after-transaction", True),
        ("commit:before-ref-move", False),
    ],
}


@pytest.fixture
def server(server_database: str, tmp_path: Path) -> Iterator[AppServer]:
    app = AppServer(tmp_path, DATABASE_URL=server_database, LOG_LEVEL="WARNING")
    app.manage("migrate", "--no-input", "-v0")
    try:
        yield app
    finally:
        app.stop()


class Project:
    """The project under test, driven over HTTP like a client would."""

    def __init__(self, server: AppServer) -> None:
        made = create_user_and_project(server, code=CODE)
        self.server = server
        self.id = made["project_id"]
        self.auth = {"Authorization": f"Token {made['token']}"}
        self.version = 0

    def approved_diff(self) -> dict[str, str]:
        """A human_approved diff against the current HEAD (made in a shell, as a run would)."""
        made: dict[str, str] = self.server.python(
            MAKE_APPROVED_DIFF.format(project_id=self.id, n=self.version, m=self.version + 1)
        )
        self.version += 1
        return made

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.server.url}{path}", headers=self.auth, timeout=15)
        assert response.status_code == 200, response.text
        return response.json()

    def commit(self, diff_id: str) -> httpx.Response:
        return httpx.post(
            f"{self.server.url}/api/diffs/{diff_id}/commit", json={}, headers=self.auth, timeout=30
        )

    def assert_agrees(self, diff_id: str, committed: bool, diff: dict[str, str]) -> None:
        """Row, diff and git's HEAD tell one story."""
        project = self.get(f"/api/projects/{self.id}")
        head = self.get(f"/api/projects/{self.id}/commits")["results"][0]
        stored = self.get(f"/api/diffs/{diff_id}")
        assert project["current_commit"] == head["sha"]
        if committed:
            assert stored["status"] == "committed"
            assert stored["committed_sha"] == head["sha"]
            assert project["current_code"] == diff["new_code"]
            assert head["message"] == stored["commit_message"]  # the trailer is not shown
        else:
            assert stored["status"] == "human_approved"
            assert head["sha"] == diff["base"]
            assert project["current_code"] != diff["new_code"]


def _commit_and_die(project: Project, diff_id: str, *, may_answer: bool = False) -> None:
    """Commit; the server dies by SIGKILL (before answering, unless `may_answer`)."""
    server = project.server
    assert server.process is not None
    try:
        answer = project.commit(diff_id)
    except httpx.TransportError:
        pass
    else:
        assert may_answer, f"the server answered {answer.status_code} instead of dying"
    assert server.process.wait(timeout=15) == -signal.SIGKILL


@pytest.mark.timeout(400)
@pytest.mark.parametrize("storage", ["filesystem", "database"])
def test_a_sigkill_at_each_step_of_a_commit_leaves_git_and_rows_agreeing(
    server: AppServer, storage: str
) -> None:
    server.env["GIT_STORAGE"] = storage
    project = Project(server)
    killed: tuple[dict[str, str], bool] | None = None
    # Each restart after a kill is armed for the next step (fewer restarts); the
    # state the kill left is checked first.
    for point, moved in [*CRASH_POINTS[storage], ("", False)]:
        if point:
            server.env["VIBEGRAPHER_FAULT_POINT"] = point
        else:
            del server.env["VIBEGRAPHER_FAULT_POINT"]
        server.start()
        if killed is not None:
            diff, was_moved = killed
            project.assert_agrees(diff["diff_id"], committed=was_moved, diff=diff)
            if was_moved:
                # Recorded at start-up from git; committing it again is a 409, not a 500.
                retried = project.commit(diff["diff_id"])
                assert retried.status_code == 409, retried.text
                assert "committed" in retried.json()["detail"]
            elif point:
                project.version -= 1  # left uncommitted: the next diff changes the same code
        if not point:
            break
        diff = project.approved_diff()
        _commit_and_die(project, diff["diff_id"])
        killed = (diff, moved)

    # The diff whose commit died before the branch moved commits now, and so does a new one.
    assert killed is not None and not killed[1]
    retried = project.commit(killed[0]["diff_id"])
    assert retried.status_code == 200, retried.text
    project.assert_agrees(killed[0]["diff_id"], committed=True, diff=killed[0])
    diff = project.approved_diff()
    done = project.commit(diff["diff_id"])
    assert done.status_code == 200, done.text
    project.assert_agrees(diff["diff_id"], committed=True, diff=diff)
    commits = project.get(f"/api/projects/{project.id}/commits")["results"]
    messages = [c["message"] for c in commits]
    committed = 6 if storage == "filesystem" else 3
    assert messages == [f"feat: v{n}" for n in range(committed, 0, -1)] + ["Initial agent code"]


class RefWatcher:
    """Kills the server the instant libgit2 creates or renames a file in refs/heads."""

    def __init__(self, repository: Path, pid: int, names: set[str]) -> None:
        self.inotify = INotify()
        self.inotify.add_watch(str(repository / "refs" / "heads"), flags.CREATE | flags.MOVED_TO)
        self.pid = pid
        self.names = names
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while events := self.inotify.read(timeout=30_000):
            for event in events:
                if event.name in self.names:
                    os.kill(self.pid, signal.SIGKILL)
                    self.seen.append(event.name)
                    return

    def close(self) -> list[str]:
        self.thread.join(timeout=35)
        self.inotify.close()
        return self.seen


@pytest.mark.timeout(300)
@pytest.mark.parametrize("watched", ["main.lock", "main"])
def test_a_sigkill_when_the_ref_files_change_leaves_git_and_rows_agreeing(
    server: AppServer, watched: str
) -> None:
    """`main.lock` is created as libgit2 takes the ref lock; `main` is renamed over."""
    project = Project(server)
    repository = Path(server.env["MEDIA_ROOT"]) / "projects" / "black-box"
    diff = project.approved_diff()
    server.start()
    assert server.process is not None
    watcher = RefWatcher(repository, server.process.pid, {watched})
    # The signal travels through this process's scheduling: on a busy machine the
    # server can finish the request first, and then dies all the same.
    _commit_and_die(project, diff["diff_id"], may_answer=True)
    assert watcher.close() == [watched]

    server.start()
    # Where exactly the kill landed is the kernel's choice: either nothing happened or
    # the commit is recorded; never a mix.
    stored = project.get(f"/api/diffs/{diff['diff_id']}")
    project.assert_agrees(diff["diff_id"], committed=stored["status"] == "committed", diff=diff)
    if stored["status"] != "committed":
        retried = project.commit(diff["diff_id"])
        assert retried.status_code == 200, retried.text
        project.assert_agrees(diff["diff_id"], committed=True, diff=diff)

    diff = project.approved_diff()
    assert project.commit(diff["diff_id"]).status_code == 200
    project.assert_agrees(diff["diff_id"], committed=True, diff=diff)


def test_a_ref_lock_left_by_a_dead_process_does_not_block_commits(server: AppServer) -> None:
    project = Project(server)
    repository = Path(server.env["MEDIA_ROOT"]) / "projects" / "black-box"
    # What a process killed while holding libgit2's ref lock leaves behind.
    (repository / "refs" / "heads" / "main.lock").write_text("0" * 40 + "\n")
    diff = project.approved_diff()
    server.start()

    done = project.commit(diff["diff_id"])

    assert done.status_code == 200, done.text
    project.assert_agrees(diff["diff_id"], committed=True, diff=diff)
    assert not (repository / "refs" / "heads" / "main.lock").exists()
