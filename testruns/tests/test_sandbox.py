"""The sandbox contains what model-written code might do, and reports it with the right status.

The isolation tests run twice: in sandboxes started for the test (cold) and in warm
sandboxes started ahead with the Agents SDK imported (testruns/sandbox/warm.py).
"""

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.test import override_settings

from testruns import sandbox
from testruns.sandbox import SandboxLimits, SandboxUnavailable, cgroups, process, run_test
from testruns.sandbox import warm as sandbox_warm

SHORT = SandboxLimits(wall_seconds=3)
WARM = 2


pytestmark = pytest.mark.usefixtures("bubblewrap")

Run = Callable[..., Awaitable[sandbox.SandboxResult]]


async def run(code: str, limits: SandboxLimits = SHORT) -> sandbox.SandboxResult:
    return await run_test({"test.py": code}, "test.py", limits)


def skip_without_a_pool() -> None:
    with override_settings(TEST_SANDBOX_WARM=WARM):
        if reason := sandbox_warm.unavailable():
            pytest.skip(f"no warm sandboxes here: {reason}")


def wait_for_warm_sandboxes(count: int = WARM) -> None:
    sandbox_warm.start()  # the pool looks at the settings again
    deadline = time.monotonic() + 90
    while sandbox_warm.pool().counts()[0] < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{count} warm sandboxes not ready in 90 s")
        time.sleep(0.05)


@pytest.fixture(scope="module", params=["cold", "warm"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Where a test runs: a sandbox started for it, or a warm one (module-scoped, so the
    warm tests share one pool)."""
    warm = request.param == "warm"
    sandbox_warm.stop()
    with override_settings(TEST_SANDBOX_WARM=WARM if warm else 0):
        if warm:
            skip_without_a_pool()
        yield request.param
        sandbox_warm.stop()


@pytest.fixture
def cold() -> Iterator[None]:
    """No warm sandboxes at all while the test runs."""
    sandbox_warm.stop()
    with override_settings(TEST_SANDBOX_WARM=0):
        yield


@pytest.fixture(name="run")
def run_on_path(path: str, monkeypatch: pytest.MonkeyPatch) -> Run:
    """`run(code, limits)` on the test's path; a warm run says it was one."""
    if path == "warm":
        # Every job takes a warm sandbox, not only those importing the SDK.
        monkeypatch.setattr(sandbox_warm, "wanted", lambda files: True)
        wait_for_warm_sandboxes()

    async def on_path(code: str, limits: SandboxLimits = SHORT) -> sandbox.SandboxResult:
        result = await run(code, limits)
        assert result.warm == (path == "warm"), result
        return result

    return on_path


async def test_a_passing_and_a_failing_test(run: Run) -> None:
    passed = await run("print('fine')")
    failed = await run("assert 1 + 1 == 3, 'arithmetic is broken'")

    assert (passed.status, passed.output.strip()) == ("passed", "fine")
    assert passed.isolation == "bubblewrap"
    assert failed.status == "failed"
    assert "AssertionError: arithmetic is broken" in failed.output


async def test_no_network(run: Run) -> None:
    result = await run(
        "import socket\n"
        "s = socket.create_connection(('127.0.0.1', 5432), timeout=2)\n"  # PostgreSQL, on the host
    )

    assert result.status == "failed"
    assert "Network is unreachable" in result.output or "Connection refused" in result.output


async def test_writes_only_inside_its_directory(run: Run, tmp_path: Path) -> None:
    outside = tmp_path / "escaped.txt"
    paths = [str(outside), "/usr/escaped.txt", "/escaped.txt"]
    result = await run(
        "open('inside.txt', 'w').write('ok')\n"
        f"for path in {paths!r}:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "    except OSError as exc:\n"
        "        print('refused', path, exc.strerror)\n"
        "    else:\n"
        "        print('WROTE', path)\n"
    )

    assert result.status == "passed", result.output
    assert "WROTE" not in result.output
    assert result.output.count("refused") == 3
    assert not outside.exists()


async def test_sees_neither_the_server_environment_nor_its_files(run: Run, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-secret")
    monkeypatch.setenv("SECRET_KEY", "django-server-secret")
    server_files = [str(settings.BASE_DIR / "manage.py"), str(settings.MEDIA_ROOT), "/etc/passwd"]
    result = await run(
        "import os\n"
        "print(sorted(os.environ))\n"
        "print(open('/proc/1/environ', 'rb').read())\n"
        f"for path in {server_files!r}:\n"
        "    print(path, os.path.exists(path))\n"
    )

    assert result.status == "passed", result.output
    assert "server-secret" not in result.output
    assert "OPENAI_API_KEY" not in result.output and "SECRET_KEY" not in result.output
    assert "True" not in result.output  # none of the server's files exist in the sandbox


async def test_unbounded_forking_is_contained(run: Run) -> None:
    before = len(os.listdir("/proc"))
    result = await run(
        "import os, time\n"
        "children = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
        "        children += 1\n"
        "except OSError as exc:\n"
        "    print('fork refused after', children, exc.strerror)\n"
        "    raise SystemExit(1)\n",
    )

    assert result.status == "failed", result.output
    assert "fork refused after" in result.output
    children = int(result.output.split("fork refused after ")[1].split()[0])
    assert children < SHORT.max_processes
    await asyncio.sleep(0.5)
    assert len(os.listdir("/proc")) < before + 10  # every child is gone with the sandbox


async def test_two_gigabytes_are_refused(run: Run) -> None:
    result = await run("block = bytearray(2 * 1024**3)\nprint('allocated')")

    assert result.status == "failed"
    assert "MemoryError" in result.output and "allocated" not in result.output


async def test_endless_loop_times_out_without_blocking_the_server(run: Run) -> None:
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(10):
            started = time.monotonic()
            await asyncio.sleep(0.05)
            ticks.append(time.monotonic() - started)

    result, _ = await asyncio.gather(
        run("while True:\n    pass\n", SandboxLimits(wall_seconds=1.5)), ticker()
    )

    assert result.status == "timeout"
    assert 1.5 <= result.duration < 5
    assert "time limit: stopped after 1.5 s" in result.output
    assert max(ticks) < 0.5  # the event loop kept serving


async def test_gigabytes_of_output_are_cut_off(run: Run) -> None:
    result = await run("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n")

    assert result.status == "error"
    assert "output limit" in result.output
    assert len(result.output) < 2 * SHORT.max_output_bytes
    assert result.duration < 3


async def test_refuses_to_run_without_bubblewrap(monkeypatch, settings) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(SandboxUnavailable, match="install the Debian package bubblewrap"):
        await run("print('never')")


async def test_weaker_mode_must_be_chosen_and_is_shown_on_results(settings) -> None:
    settings.TEST_SANDBOX = sandbox.UNSAFE

    result = await run("import os\nprint(sorted(os.environ))")

    assert result.status == "passed"
    label = "none (TEST_SANDBOX=unsafe-subprocess) (no warm sandboxes: they need bubblewrap)"
    assert result.isolation == label
    assert f"[isolation: {label}]" in result.output
    assert "OPENAI_API_KEY" not in result.output


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemAvailable in /proc/meminfo")


async def test_one_memory_budget_for_all_the_processes_of_a_test(run: Run) -> None:
    if not cgroups.memory_budget_enforced():
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs as root with cgroups: a memory cgroup must be possible")
        pytest.skip("no memory cgroup can be made here")
    # Each child stays under the per-process limit; together they are 6x the budget.
    code = (
        "import os, time\n"
        "children = []\n"
        "for _ in range(8):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        block = b'x' * (400 * 1024**2)  # written, so resident\n"
        "        time.sleep(2)\n"
        "        os._exit(0)\n"
        "    children.append(pid)\n"
        "print([os.waitpid(pid, 0)[1] for pid in children])\n"
    )
    parent = cgroups.cgroup_parents().memory
    assert parent is not None
    usage_file = "memory.current" if cgroups.cgroup_parents().v2 else "memory.usage_in_bytes"
    before = mem_available()
    lowest = before
    peak = 0

    async def watch() -> None:
        nonlocal lowest, peak
        while True:
            lowest = min(lowest, mem_available())
            for group in parent.glob(f"vibegrapher-{process.owner()}-*"):
                with contextlib.suppress(OSError):
                    peak = max(peak, int((group / usage_file).read_text()))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        result = await run(code, SandboxLimits(wall_seconds=8))
    finally:
        watcher.cancel()

    assert result.status == "error", result.output
    assert result.limit == "out of memory"
    assert "[out of memory: its processes together needed more than 512 MB" in result.output
    # The test's own charge, read from its cgroup while it ran, stays within the budget.
    assert 256 * 1024**2 < peak <= 512 * 1024**2
    # Unbounded, the host lost 3.2 GB; the slack is for the rest of a shared machine.
    assert before - lowest < 512 * 1024**2 + 1024**3


@pytest.mark.parametrize("directory", [".", "/tmp", "/dev/shm"])
async def test_a_disk_budget_for_what_a_test_writes(run: Run, directory: str) -> None:
    code = (
        "import os\n"
        "for i in range(64):\n"
        f"    with open(os.path.join({directory!r}, f'fill-{{i}}'), 'wb') as f:\n"
        "        f.write(b'x' * (16 * 1024**2 - 1))\n"
    )

    result = await run(code)

    assert result.status == "error", result.output
    assert result.limit == "disk limit"
    assert "No space left on device" in result.output
    assert "[disk limit: 32 MB each for its directory, /tmp and /dev/shm" in result.output


async def test_nothing_else_is_writable_not_even_dev(run: Run) -> None:
    result = await run(
        "for path in ['/dev/fill', '/sandbox-escape', '/usr/lib/x']:\n"
        "    try:\n"
        "        open(path, 'w')\n"
        "    except OSError as exc:\n"
        "        print('refused', path, exc.strerror)\n"
    )

    assert result.output.count("refused") == 3, result.output


async def test_a_test_cannot_make_namespaces_mount_or_chroot(run: Run) -> None:
    result = await run(
        "import ctypes, os, subprocess\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "calls = {\n"
        "    'unshare': lambda: libc.unshare(0x10000000),\n"  # CLONE_NEWUSER
        "    'clone': lambda: libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0),\n"
        "    'chroot': lambda: libc.chroot(b'/tmp'),\n"
        "    'mount': lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None),\n"
        "    'ptrace': lambda: libc.ptrace(16, 1, 0, 0),\n"  # PTRACE_ATTACH
        "}\n"
        "for name, call in calls.items():\n"
        "    print(name, call(), os.strerror(ctypes.get_errno()))\n"
        "done = subprocess.run(['/usr/bin/unshare', '-U', '-r', 'true'], capture_output=True)\n"
        "print('unshare(1)', done.returncode, done.stderr.decode().strip())\n"
        "pid = os.fork()\n"  # what a test does need still works
        "if pid == 0:\n"
        "    os._exit(7)\n"
        "print('fork', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )

    assert result.status == "passed", result.output
    for name in ["unshare", "clone", "chroot", "mount", "ptrace"]:
        assert f"{name} -1 Operation not permitted" in result.output
    assert "unshare(1) 1 unshare: unshare failed: Operation not permitted" in result.output
    assert "fork 7" in result.output
    assert result.isolation == "bubblewrap"


def alive_sandboxes() -> int:
    """bwrap processes this test process started (each sandbox is one), but for the warm
    sandboxes still waiting for a job."""
    waiting = sandbox_warm.waiting_pids()
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        name, rest = stat.rsplit(")", 1)
        if name.endswith("(bwrap") and int(rest.split()[1]) == os.getpid():
            count += int(entry.name) not in waiting
    return count


async def test_sandboxes_beyond_the_concurrency_limit_wait_their_turn(settings) -> None:
    settings.TEST_SANDBOX_CONCURRENCY = 2
    started: list[int] = []
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, await asyncio.to_thread(alive_sandboxes))
            await asyncio.sleep(0.05)

    async def one(number: int) -> sandbox.SandboxResult:
        async def on_start() -> None:
            started.append(number)

        return await run_test(
            {"test.py": "import time\ntime.sleep(0.6)\nprint('done')"},
            "test.py",
            SHORT,
            on_start=on_start,
        )

    watcher = asyncio.create_task(watch())
    began = time.monotonic()
    try:
        results = await asyncio.gather(*(one(n) for n in range(5)))
    finally:
        watcher.cancel()
    elapsed = time.monotonic() - began

    assert [r.status for r in results] == ["passed"] * 5
    assert sorted(started) == [0, 1, 2, 3, 4]
    assert most == 2
    assert elapsed >= 3 * 0.6  # three rounds: 2 + 2 + 1


def test_leftovers_of_a_dead_process_are_removed_and_a_live_ones_kept() -> None:
    parents = cgroups.cgroup_parents()
    if parents.memory is None and parents.pids is None:
        pytest.skip("no cgroup can be made here")
    parent = parents.memory or parents.pids
    assert parent is not None
    dead = subprocess.Popen(["true"])
    dead.wait()
    started = "1"  # no process started at tick 1 has this pid now
    dead_group = parent / f"vibegrapher-{dead.pid}.{started}-0123456789ab"
    dead_dir = Path(tempfile.gettempdir()) / f"vibegrapher-test-{dead.pid}.{started}-x1"
    live_group = parent / f"vibegrapher-{process.owner()}-0123456789ab"
    for path in (dead_group, dead_dir, live_group):
        path.mkdir()
    (dead_dir / "agents.py").write_text("left behind")
    try:
        removed = sandbox.remove_leftovers()

        assert dead_group in removed and dead_dir in removed
        assert not dead_group.exists() and not dead_dir.exists()
        assert live_group.exists() and live_group not in removed
    finally:
        for path in (dead_group, live_group):
            if path.exists():
                path.rmdir()
        shutil.rmtree(dead_dir, ignore_errors=True)


SLEEPING_TEST = "import time\nprint('started', flush=True)\ntime.sleep(25)\n"
# The server to kill, in one `manage.py shell` (each process start costs seconds): the
# database, a user, a project, its tests and a diff, then the diff's test run started
# as the API starts it, and the process waiting on it.
SERVER_RUNNING_TESTS = """
import asyncio, json
from django.contrib.auth.models import User
from django.core.management import call_command
from accounts.tokens import create_token
from projects.models import TestCase
from projects.services import create_project
from reviews.models import Diff
from sessions_app.services import get_or_create_session
call_command("migrate", "--no-input", "-v0")
user = User.objects.create_user("killer")
project = create_project(user, "Killed mid-test", "agents = 1")
TestCase.objects.create(project=project, name="Sleeps", test_code={code!r}, quick_test=False)
TestCase.objects.create(project=project, name="Never starts", test_code="", quick_test=False)
session, _ = get_or_create_session(project, "global")
diff = Diff.objects.create(session=session, project=project, base_commit=project.current_commit,
    diff_content="", patched_code=project.current_code, commit_message="fix: something")
token = create_token(user)
from testruns import diff_tests
async def serve():
    await diff_tests.start_test_run(diff)
    print(json.dumps({{"token": token, "diff_id": str(diff.id)}}), flush=True)
    await asyncio.sleep(60)
asyncio.run(serve())
"""


def sandbox_cgroups_of(pid: int) -> list[Path]:
    parents = cgroups.cgroup_parents()
    return [
        group
        for parent in {p for p in (parents.pids, parents.memory) if p}
        for group in parent.glob(f"vibegrapher-{pid}.*")
    ]


def test_a_server_killed_mid_test_leaves_nothing_after_restart(tmp_path: Path) -> None:
    from tests.support.servers import AppServer

    setup = AppServer(tmp_path)
    first = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            SERVER_RUNNING_TESTS.format(code=SLEEPING_TEST),
        ],
        cwd=settings.BASE_DIR,
        env=setup.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None
        line = first.stdout.readline()
        while line and not line.startswith("{"):  # the shell's own messages
            line = first.stdout.readline()
        created = json.loads(line)
        deadline = time.monotonic() + 20
        while not sandbox_cgroups_of(first.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = sandbox_cgroups_of(first.pid)
    finally:
        first.kill()  # SIGKILL: nothing of the server's own clean-up runs
        first.wait()
    if cgroups.cgroup_parents() != cgroups.CgroupParents(None, None, False):
        assert left and all(group.exists() for group in left)  # what the issue saw
    pid, diff_id = first.pid, created["diff_id"]
    headers = {"Authorization": f"Token {created['token']}"}
    second = AppServer(tmp_path).start()
    try:
        diff = httpx.get(f"{second.url}/api/diffs/{diff_id}", headers=headers).json()
        again = httpx.post(f"{second.url}/api/diffs/{diff_id}/test", headers=headers, json={})
    finally:
        assert second.process is not None
        second.process.kill()
        second.stop()
        sandbox.remove_leftovers()  # the second server's, stopped mid-test in its turn

    assert not any(group.exists() for group in left)
    assert not list(Path(tempfile.gettempdir()).glob(f"vibegrapher-test-{pid}.*"))
    assert diff["tests_running"] is False
    assert [(r["name"], r["status"], r["output"]) for r in diff["test_results"]] == [
        ("Sleeps", "error", "The server stopped before this test finished: run the tests again."),
        (
            "Never starts",
            "error",
            "The server stopped before this test finished: run the tests again.",
        ),
    ]
    assert again.status_code == 202, again.text  # no 409 window


async def test_results_say_which_limits_the_host_cannot_enforce(monkeypatch) -> None:
    monkeypatch.setattr(cgroups, "cgroup_parents", lambda: cgroups.CgroupParents(None, None, False))
    monkeypatch.setattr(process, "seccomp_program", lambda: "libseccomp cannot be loaded (test)")

    result = await run("print('still isolated')")

    assert result.status == "passed", result.output
    assert "(no memory budget: no memory cgroup, only a per-process limit)" in result.isolation
    assert "(no syscall filter: libseccomp cannot be loaded (test))" in result.isolation
    assert "(no warm sandboxes: no memory cgroup to charge their imports to)" in result.isolation
    assert result.isolation.startswith("bubblewrap")


LEAVES_TRACES = """
import os, subprocess, time
open('mine.txt', 'w').write('secret-a')
open('/tmp/mine.txt', 'w').write('secret-a')
open('/dev/shm/mine.txt', 'w').write('secret-a')
os.environ['LEFT_BY_A'] = 'secret-a'
subprocess.Popen(['sleep', '30'], start_new_session=True)
print('a wrote', flush=True)
import agents
agents.LEFT_BY_A = 'secret-a'  # in a module a warm sandbox imported before its job
time.sleep(3)
"""
# What it looks for first; the Agents SDK after (a cold import takes seconds).
LOOKS_FOR_TRACES = """
import os
print('files', os.listdir('.'), os.listdir('/tmp'), os.listdir('/dev/shm'))
commands = [open(f'/proc/{p}/cmdline', 'rb').read() for p in os.listdir('/proc') if p.isdigit()]
print('processes', [c for c in commands if b'sleep' in c])
import agents
print('env', [k for k in os.environ if 'LEFT' in k], getattr(agents, 'LEFT_BY_A', None))
"""
# Cold, importing the Agents SDK takes seconds on a loaded machine.
SDK_LIMITS = SandboxLimits(wall_seconds=30)


async def test_a_test_sees_nothing_of_another_one(run: Run) -> None:
    async def after_a() -> sandbox.SandboxResult:
        await asyncio.sleep(1)  # A has written its traces and is still running
        return await run(LOOKS_FOR_TRACES, SDK_LIMITS)

    a, during = await asyncio.gather(run(LEAVES_TRACES, SDK_LIMITS), after_a())
    after = await run(LOOKS_FOR_TRACES, SDK_LIMITS)

    assert a.status == "passed" and "a wrote" in a.output, a.output
    for b in (during, after):
        assert b.status == "passed", b.output
        assert "files ['test.py'] [] []" in b.output
        assert "env [] None" in b.output
        assert "processes []" in b.output
        assert "secret-a" not in b.output


PROBE = """
import os, sys
print(sys.argv, __name__, __file__, sys.path[0], os.getcwd(), sys.stdin.read())
print(sorted(os.environ))
print(sorted(os.listdir('.')), oct(os.stat('test.py').st_mode))
def fails():
    raise ValueError('as a cold run shows it')
fails()
"""


async def test_a_warm_run_looks_like_a_cold_one(monkeypatch, settings) -> None:
    settings.TEST_SANDBOX_WARM = WARM
    skip_without_a_pool()
    monkeypatch.setattr(sandbox_warm, "wanted", lambda files: False)
    cold = [await run(code) for code in (PROBE, "import sys\nsys.exit('bye')", "def (")]
    monkeypatch.setattr(sandbox_warm, "wanted", lambda files: True)
    await asyncio.to_thread(wait_for_warm_sandboxes, 1)
    warm = [await run(code) for code in (PROBE, "import sys\nsys.exit('bye')", "def (")]

    assert [r.warm for r in cold + warm] == [False] * 3 + [True] * 3
    for c, w in zip(cold, warm, strict=True):
        assert (w.status, w.returncode, w.output) == (c.status, c.returncode, c.output)
    assert 'Traceback (most recent call last):\n  File "/sandbox/test.py", line 8' in warm[0].output
    assert warm[1].output.strip() == "bye"
    sandbox_warm.stop()


async def test_a_warm_test_time_runs_from_its_hand_over(monkeypatch, settings) -> None:
    settings.TEST_SANDBOX_WARM = 1
    skip_without_a_pool()
    await asyncio.to_thread(wait_for_warm_sandboxes, 1)
    await asyncio.sleep(2)  # waiting is not the job's time

    result = await run("import time, agents\ntime.sleep(1)\nprint('done')", SandboxLimits(1.8))

    assert (result.warm, result.status, result.output.strip()) == (True, "passed", "done")
    assert 1 <= result.duration < 1.8
    sandbox_warm.stop()


def cpu_ticks(stat: Path) -> int:
    """User and system clock ticks of a process or thread, from its /proc stat."""
    with contextlib.suppress(OSError):
        return sum(int(f) for f in stat.read_text().rsplit(")", 1)[1].split()[11:13])
    return 0


def descendants(pid: int) -> list[int]:
    found = [pid]
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            found += descendants(int(child))
    return found


def test_a_waiting_pool_spends_no_cpu(settings) -> None:
    settings.TEST_SANDBOX_WARM = WARM
    skip_without_a_pool()
    sandbox_warm.start()
    wait_for_warm_sandboxes()
    thread = next(t for t in threading.enumerate() if t.name == "warm-sandboxes")
    sandboxes = [p for pid in sandbox_warm.waiting_pids() for p in descendants(pid)]
    stats = [Path(f"/proc/self/task/{thread.native_id}/stat")]
    stats += [Path(f"/proc/{pid}/stat") for pid in sandboxes]
    before = [cpu_ticks(stat) for stat in stats]

    time.sleep(2)

    spent = [cpu_ticks(stat) - ticks for stat, ticks in zip(stats, before, strict=True)]
    assert len(sandboxes) >= 2 * WARM  # bubblewrap and the interpreter, at least
    assert sum(spent) <= 2, spent  # clock ticks (1/100 s): all of them sleep
    sandbox_warm.stop()


WAITING_SERVER = """
import time
from django.conf import settings
from testruns.sandbox import warm as sandbox_warm
settings.TEST_SANDBOX_WARM = 2
sandbox_warm.start()
while sandbox_warm.pool().counts()[0] < 2:
    time.sleep(0.05)
print("warm", *sandbox_warm.waiting_pids(), flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    """Running, or a zombie no one reaps (a container's init may not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def members(groups: list[Path]) -> set[int]:
    return {int(pid) for group in groups for pid in (group / "cgroup.procs").read_text().split()}


def test_a_server_killed_with_warm_sandboxes_waiting_leaves_nothing_after_restart(
    tmp_path: Path, cold: None
) -> None:
    skip_without_a_pool()
    from tests.support.servers import AppServer

    server = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", WAITING_SERVER],
        cwd=settings.BASE_DIR,
        env=AppServer(tmp_path).env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        while line and not line.startswith("warm"):
            line = server.stdout.readline()
        sandboxes = {int(pid) for pid in line.split()[1:]}
        groups = sandbox_cgroups_of(server.pid)
        processes = members(groups)
    finally:
        server.kill()  # SIGKILL: nothing of the server's own clean-up runs
        server.wait()
    assert len(sandboxes) == 2 and sandboxes <= processes
    assert len(processes) >= 4  # bubblewrap and the interpreter, twice
    assert groups and all(group.exists() for group in groups)  # named after the server

    removed = sandbox.remove_leftovers()  # what a restarted server does first

    assert set(groups) <= set(removed)
    assert not any(group.exists() for group in groups)
    assert not [pid for pid in processes if alive(pid)]


def test_the_pool_grows_only_while_a_quarter_of_the_available_memory_holds_it(
    settings, monkeypatch
) -> None:
    settings.TEST_SANDBOX_WARM = 4
    skip_without_a_pool()
    monkeypatch.setattr(sandbox_warm, "_memory_allows", lambda: 1)
    assert sandbox_warm._to_start(4, 0) == 1
    # Plenty of memory: the setting decides.
    monkeypatch.setattr(sandbox_warm, "_memory_allows", lambda: 1000)
    assert sandbox_warm._to_start(4, 0) == 4
    assert sandbox_warm._to_start(4, 3) == 1
    # No memory left: nothing more starts, but a full pool keeps what it holds.
    monkeypatch.setattr(sandbox_warm, "_memory_allows", lambda: 0)
    assert sandbox_warm._to_start(4, 2) == 0
    assert sandbox_warm._target()[0] == 4
    # The figure itself: a quarter of MemAvailable in waiting sandboxes' sizes.
    with open("/proc/meminfo") as meminfo:
        available = next(int(line.split()[1]) for line in meminfo if "MemAvailable" in line)
    monkeypatch.undo()
    expected = available * 1024 // 4 // sandbox_warm.WAITING_SANDBOX_BYTES
    assert abs(sandbox_warm._memory_allows() - expected) <= 1  # MemAvailable moves a little
