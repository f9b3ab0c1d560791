"""Sandboxed jobs on real worker processes (`python -m testruns.worker`) through Celery
on a redis-server of the test's own; this process is the web side (`SANDBOX_JOBS=queue`).

- the results are the ones the same jobs give in-process (`inline`);
- a worker SIGKILLed mid-job: the job runs again on another worker and passes, once;
  nothing of the dead worker's sandbox is left (no process, no cgroup);
- a worker's SIGTERM drains: a job that fits the drain budget finishes there; one that
  does not is stopped and runs again elsewhere;
- fair share: one user's burst does not put all its jobs ahead of another user's one;
- a daphne server of `SANDBOX_JOBS=queue` answers `tests/run` from the worker's runs
  and starts no sandbox itself.
"""

import asyncio
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from testruns import jobs
from testruns.sandbox import SandboxLimits, SandboxResult, cgroups, limits_for
from tests.support.fixtures import bubblewrap  # noqa: F401
from tests.support.servers import AppServer, OwnRedis
from tests.support.workers import SandboxWorker, alive, claimed_by, descendants, run_queued

pytestmark = pytest.mark.usefixtures("bubblewrap")

QUICK = limits_for(quick=True)

PROGRAMS: dict[str, tuple[str, SandboxLimits]] = {
    "passes": ("print('fine')\n", QUICK),
    "fails": ("import sys\nprint('no', file=sys.stderr)\nassert 1 == 2\n", QUICK),
    "exits 3": ("raise SystemExit(3)\n", QUICK),
    "times out": ("import time\ntime.sleep(10)\n", SandboxLimits(wall_seconds=1)),
    "no network": (
        "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)\n",
        QUICK,
    ),
}


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def workers(own_redis: OwnRedis, tmp_path: Path) -> Iterator[list[SandboxWorker]]:
    """Workers the test starts (`started.append(...)`), stopped at the end; the test's
    own redis-server starts empty."""
    client = redis.Redis.from_url(own_redis.url)
    client.flushdb()
    client.close()
    started: list[SandboxWorker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


def start_worker(own_redis: OwnRedis, tmp_path: Path, **env: str) -> SandboxWorker:
    return SandboxWorker(tmp_path, own_redis.url, TEST_SANDBOX_CONCURRENCY="1", **env).start()


def comparable(result: SandboxResult) -> tuple[object, ...]:
    return (result.status, result.output, result.returncode, result.limit, result.isolation)


def test_queued_results_are_the_in_process_ones(
    own_redis: OwnRedis, tmp_path: Path, workers: list[SandboxWorker]
) -> None:
    workers.append(start_worker(own_redis, tmp_path))
    events: dict[str, list[str]] = {name: [] for name in PROGRAMS}

    async def run_all(record: bool) -> dict[str, SandboxResult]:
        async def one(name: str) -> SandboxResult:
            code, limits = PROGRAMS[name]

            async def started() -> None:
                if record:
                    events[name].append("running")

            return await jobs.run_sandboxed({"t.py": code}, "t.py", limits, on_start=started)

        results = await asyncio.gather(*(one(name) for name in PROGRAMS))
        return dict(zip(PROGRAMS, results, strict=True))

    inline = asyncio.run(run_all(record=False))
    queued = run_queued(lambda: run_all(record=True), own_redis.url)
    for name in PROGRAMS:
        assert comparable(queued[name]) == comparable(inline[name]), name
        assert events[name] == ["running"], name
    assert queued["times out"].status == "timeout"
    assert queued["fails"].status == "failed"


def sandbox_cgroups(pid: int) -> list[Path]:
    parents = cgroups.cgroup_parents()
    return [
        group
        for parent in {parents.pids, parents.memory} - {None}
        for group in parent.glob(f"{cgroups.CGROUP_PREFIX}{pid}.*")  # type: ignore[union-attr]
    ]


def wait_for_claim(url: str, pids: set[int], timeout: float = 20) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for attempt, pid in claimed_by(url).items():
            if pid in pids:
                return attempt, pid
        time.sleep(0.05)
    raise AssertionError("no worker claimed the job")


SLOW = "import time\ntime.sleep(3)\nprint('done')\n"


def run_slow_while(
    own_redis: OwnRedis, action: Callable[[], None], seconds: float = 3
) -> tuple[SandboxResult, int]:
    """Send one job of `seconds`; once a worker runs it, call `action` (in a thread).
    Returns the result and how many attempts were sent."""
    code = SLOW.replace("sleep(3)", f"sleep({seconds})")

    async def work() -> SandboxResult:
        acting = asyncio.create_task(asyncio.to_thread(action))
        try:
            return await jobs.run_sandboxed(
                {"t.py": code}, "t.py", limits_for(quick=False), user_id=1
            )
        finally:
            await acting

    result = run_queued(work, own_redis.url)
    client = redis.Redis.from_url(own_redis.url)
    attempts = {name.decode().split(":")[2] for name in client.scan_iter("sandbox:job:*:claim")}
    client.close()
    return result, len(attempts)


def test_worker_killed_mid_job(
    own_redis: OwnRedis, tmp_path: Path, workers: list[SandboxWorker]
) -> None:
    workers.extend([start_worker(own_redis, tmp_path), start_worker(own_redis, tmp_path)])
    by_pid = {worker.pid: worker for worker in workers}
    left: dict[str, object] = {}

    def kill_its_worker() -> None:
        _, pid = wait_for_claim(own_redis.url, set(by_pid))
        time.sleep(0.5)  # in its sandbox by now
        left["sandbox"] = descendants(pid)
        left["cgroups"] = sandbox_cgroups(pid)
        left["pid"] = pid
        by_pid[pid].signal(signal.SIGKILL)
        by_pid[pid].wait(10)

    started = time.monotonic()
    result, attempts = run_slow_while(own_redis, kill_its_worker)
    assert result.status == "passed", result.output
    assert result.output.strip() == "done"
    assert attempts == 2  # sent again once
    assert time.monotonic() - started < 20
    assert left["sandbox"], "the job's sandbox was running when its worker was killed"
    assert left["cgroups"] or not cgroups.memory_budget_enforced()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in left["sandbox"]) and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.1)
    assert not [pid for pid in left["sandbox"] if alive(pid)]  # type: ignore[attr-defined]
    # The worker that ran it again swept the dead one's cgroups first.
    assert sandbox_cgroups(left["pid"]) == []  # type: ignore[arg-type]


def test_a_job_whose_workers_both_die_is_an_error(
    own_redis: OwnRedis, tmp_path: Path, workers: list[SandboxWorker]
) -> None:
    workers.extend([start_worker(own_redis, tmp_path), start_worker(own_redis, tmp_path)])
    by_pid = {worker.pid: worker for worker in workers}

    def kill_both() -> None:
        for _ in range(2):
            # The running attempt's worker (the first one's claim stays, its pid dead).
            _, pid = wait_for_claim(own_redis.url, {p for p in by_pid if by_pid[p].running})
            time.sleep(0.3)
            by_pid[pid].signal(signal.SIGKILL)
            by_pid[pid].wait(10)

    with pytest.raises(jobs.JobLost, match="stopped, and so did the one that ran it again"):
        run_slow_while(own_redis, kill_both)
    # A worker that starts on the host removes what both left.
    workers.append(start_worker(own_redis, tmp_path))
    for pid in by_pid:
        assert sandbox_cgroups(pid) == []


def test_sigterm_lets_a_job_finish(
    own_redis: OwnRedis, tmp_path: Path, workers: list[SandboxWorker]
) -> None:
    workers.append(start_worker(own_redis, tmp_path))
    exits: list[int] = []

    def terminate() -> None:
        wait_for_claim(own_redis.url, {workers[0].pid})
        workers[0].signal(signal.SIGTERM)
        exits.append(workers[0].wait(20))

    result, attempts = run_slow_while(own_redis, terminate)
    assert result.status == "passed" and attempts == 1
    assert exits == [0]


def test_sigterm_past_the_drain_requeues(
    own_redis: OwnRedis, tmp_path: Path, workers: list[SandboxWorker]
) -> None:
    draining = start_worker(own_redis, tmp_path, SANDBOX_WORKER_DRAIN_SECONDS="0.5")
    workers.append(draining)
    exits: list[float] = []

    def terminate() -> None:
        wait_for_claim(own_redis.url, {draining.pid})
        # The other worker starts only now, so the first attempt is the draining one's.
        workers.append(start_worker(own_redis, tmp_path))
        draining.signal(signal.SIGTERM)
        began = time.monotonic()
        assert draining.wait(10) == 0
        exits.append(time.monotonic() - began)

    result, attempts = run_slow_while(own_redis, terminate, seconds=8)
    assert result.status == "passed", result.output
    assert attempts == 2
    assert exits[0] < 5
    assert sandbox_cgroups(draining.pid) == []


def test_one_users_burst_does_not_starve_another(
    own_redis: OwnRedis, tmp_path: Path, workers: list[SandboxWorker]
) -> None:
    workers.append(start_worker(own_redis, tmp_path))
    finished: list[str] = []
    job = ({"t.py": "import time\ntime.sleep(0.2)\n"}, "t.py", QUICK)

    async def work() -> None:
        async def one(user: int, name: str) -> None:
            result = await jobs.run_sandboxed(*job, user_id=user)
            assert result.status == "passed"
            finished.append(name)

        burst = [asyncio.create_task(one(1, f"a{n}")) for n in range(10)]
        await asyncio.sleep(0.5)  # the burst is queued
        await one(2, "b")
        await asyncio.gather(*burst)

    run_queued(work, own_redis.url, SANDBOX_JOBS_PER_USER=2)
    # At most 2 of user 1's jobs are queued or running when user 2's arrives.
    assert finished.index("b") <= 4, finished
    # Without the per-user limit it would have been the last.
    assert len(finished) == 11


SETUP = """
import json
from django.contrib.auth.models import User
from accounts.tokens import create_token
from projects.models import TestCase
from projects.services import create_project
user = User.objects.create_user("walker", password="walker-pass-123")
project = create_project(user, "Queued", "from agents import Agent\\n\\nbot = Agent(name='Bot')\\n")
reads = f"import pathlib\\nassert 'Bot' in pathlib.Path({project.main_file!r}).read_text()\\n"
TestCase.objects.create(project=project, name="reads the file", quick_test=True, test_code=reads)
TestCase.objects.create(project=project, name="fails", quick_test=False,
                        test_code="raise AssertionError('on purpose')\\n")
print(json.dumps({"token": create_token(user), "project_id": str(project.id)}))
"""


def test_a_queue_web_server_runs_tests_on_the_worker(
    own_redis: OwnRedis, tmp_path: Path, workers: list[SandboxWorker]
) -> None:
    workers.append(start_worker(own_redis, tmp_path))
    with AppServer(tmp_path, REDIS_URL=own_redis.url, SANDBOX_JOBS="queue") as server:
        server.manage("migrate", "--no-input")
        ids = server.python(SETUP)
        server.start()
        assert server.process is not None
        answer = httpx.post(
            f"{server.url}/api/projects/{ids['project_id']}/tests/run",
            json={},
            headers={"Authorization": f"Token {ids['token']}"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        results = {r["name"]: r for r in answer.json()["results"]}
        assert results["reads the file"]["status"] == "passed", results
        assert results["fails"]["status"] == "failed"
        assert "on purpose" in results["fails"]["output"]
        # The web server started no sandbox; the worker ran both.
        assert not descendants(server.process.pid)
    assert workers[0].log.read_text().count("testruns.run_sandboxed[") >= 4


TRIVIAL_TESTS = [
    ("Runs", "print('ok')\n", True),
    (
        "Reads the workflow",
        "import pathlib\nassert 'Agent' in pathlib.Path('{main}').read_text()\n",
        False,
    ),
]


def _trivially_tested(user: Any) -> Any:
    from projects.models import TestCase
    from projects.sample_workflow import SAMPLE_CODE
    from projects.services import create_project

    project = create_project(user, "Queued diff", SAMPLE_CODE)
    for name, code, quick in TRIVIAL_TESTS:
        TestCase.objects.create(
            project=project, name=name, test_code=code.format(main=project.main_file),
            quick_test=quick,
        )  # fmt: skip
    return project


async def _events_of_a_run(async_api: Any, project: Any) -> list[tuple[str, str, str]]:
    from asgiref.sync import sync_to_async

    from testruns import diff_tests
    from testruns.tests.test_diff_tests import KEEPS_WORKFLOW, _diff
    from tests.support.fixtures import open_project_socket

    diff = await sync_to_async(_diff)(project, KEEPS_WORKFLOW)
    token = async_api.auth["Authorization"].removeprefix("Token ")
    socket = await open_project_socket(project.id, token)
    try:
        answer = await async_api.post(
            f"/api/diffs/{diff.id}/test", {}, content_type="application/json"
        )
        assert answer.status_code == 202, answer.content
        seen: list[tuple[str, str, str]] = []
        async with asyncio.timeout(60):
            while sum(kind == "test_completed" for kind, _, _ in seen) < len(TRIVIAL_TESTS):
                event = await socket.receive_json_from(timeout=60)
                if event["type"] in ("test_status", "test_completed"):
                    seen.append((event["type"], event["test_name"], event["status"]))
        task = diff_tests.running_task(diff.id)
        if task is not None:
            await task
        return seen
    finally:
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_diffs_tests_look_the_same_on_the_page(
    own_redis: OwnRedis, tmp_path: Path, workers: list[SandboxWorker], user: Any, async_api: Any
) -> None:
    """The events the review page gets, test by test, with the tests on a worker and in
    this process."""
    from asgiref.sync import sync_to_async
    from django.test import override_settings

    workers.append(start_worker(own_redis, tmp_path))
    project = await sync_to_async(_trivially_tested)(user)
    jobs.celery_app.cache_clear()
    try:
        with override_settings(SANDBOX_JOBS="queue", SANDBOX_BROKER_URL=own_redis.url):
            queued = await _events_of_a_run(async_api, project)
    finally:
        jobs.celery_app.cache_clear()
    inline = await _events_of_a_run(async_api, project)
    assert queued == inline
    assert queued[:2] == [
        ("test_status", "Runs", "queued"),
        ("test_status", "Reads the workflow", "queued"),
    ]
    assert ("test_status", "Runs", "running") in queued
    assert [e for e in queued if e[0] == "test_completed"] == [
        ("test_completed", "Runs", "passed"), ("test_completed", "Reads the workflow", "passed"),
    ]  # fmt: skip
