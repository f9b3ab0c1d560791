"""Cold and warm sandboxes: how long a test takes, what a warm one costs waiting.

In this process (the sandbox as the server runs it, `testruns.sandbox.run_test`):

1. one test at a time, cold (a sandbox started for it) and warm (a warm sandbox,
   the pool refilled between runs, untimed): a trivial test (`print("ok")`, which
   by itself would start cold: it is forced warm here to show the hand-over) and the
   seeded project's quick test, which imports the workflow and so the Agents SDK;
2. 10 such tests submitted at once (TEST_SANDBOX_CONCURRENCY as configured): cold,
   warm with the default pool, and warm with a pool of 10 already filled;
3. a warm sandbox while it waits: its resident memory (RSS and PSS of its processes,
   and its memory cgroup's charge), the CPU its start cost, and the CPU of the whole
   pool (thread and sandboxes) over 10 idle seconds.

With `--loop`, also a real server (daphne, the local model server of
tests/support/model_server.py answering at once) running the three-round loop: the VibeCoder
patches, the seeded quick test runs on the base and the patch, the Evaluator rejects,
three times; from `POST /messages` to `run_finished`, each run in a fresh project
(so the base runs too): without quick tests (the loop's own time), cold
(TEST_SANDBOX_WARM=0), warm with the default pool and with a pool of 4.

Usage: DEBUG=true .venv/bin/python bench/sandbox_warm.py [--runs 20] [--loop 3]
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibegrapher.settings")
os.environ.setdefault("DEBUG", "true")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.test import override_settings  # noqa: E402

from bench.cpu import tree_cpu_seconds  # noqa: E402
from projects.sample_workflow import SAMPLE_CODE, STRUCTURE_TEST  # noqa: E402
from testruns import sandbox  # noqa: E402
from testruns.sandbox import cgroups  # noqa: E402
from testruns.sandbox import warm as sandbox_warm  # noqa: E402
from testruns.sandbox.process import MB  # noqa: E402

TEST_FILE = "vibegrapher_test.py"
TRIVIAL = {TEST_FILE: 'print("ok")'}
SDK = {"workflow.py": SAMPLE_CODE, TEST_FILE: STRUCTURE_TEST}
# The quick-test limits, but more time: a cold SDK import on a loaded machine.
LIMITS = sandbox.SandboxLimits(
    wall_seconds=60,
    memory_bytes=settings.TEST_MEMORY_MB * MB,
    disk_bytes=settings.TEST_DISK_MB * MB,
)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms"


def p50_p95(samples: list[float]) -> str:
    p95 = statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]
    return f"p50 {ms(statistics.median(samples)):>9}  p95 {ms(p95):>9}"


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


@contextmanager
def pool_of(size: int, forced: bool = False) -> Iterator[None]:
    """A pool of `size` warm sandboxes (0: cold); `forced`: every job takes one."""
    sandbox_warm.stop()
    wanted = sandbox_warm.wanted
    if forced:
        sandbox_warm.wanted = lambda files: True
    try:
        with override_settings(TEST_SANDBOX_WARM=size):
            if size:
                sandbox_warm.start()
            yield
    finally:
        sandbox_warm.wanted = wanted
        sandbox_warm.stop()


def wait_full(size: int) -> None:
    while sandbox_warm.pool().counts()[0] < size:
        time.sleep(0.02)


async def timed(files: dict[str, str]) -> tuple[float, sandbox.SandboxResult]:
    started = time.perf_counter()
    result = await sandbox.run_test(files, TEST_FILE, LIMITS)
    elapsed = time.perf_counter() - started
    assert result.status == "passed", result.output
    return elapsed, result


async def one_at_a_time(files: dict[str, str], runs: int, warm: int) -> tuple[list[float], int]:
    """Latencies of `runs` tests in turn, and how many ran warm."""
    times: list[float] = []
    warm_runs = 0
    for _ in range(runs):
        if warm:
            await asyncio.to_thread(wait_full, warm)
        elapsed, result = await timed(files)
        times.append(elapsed)
        warm_runs += result.warm
    return times, warm_runs


async def at_once(files: dict[str, str], count: int, warm: int) -> tuple[float, list[float], int]:
    """Wall time of `count` tests submitted together, each one's latency, how many warm."""
    if warm:
        await asyncio.to_thread(wait_full, warm)
    started = time.perf_counter()
    done = await asyncio.gather(*(timed(files) for _ in range(count)))
    return time.perf_counter() - started, [t for t, _ in done], sum(r.warm for _, r in done)


def memory_of(pids: list[int]) -> tuple[int, int]:
    """RSS and PSS (bytes) of the processes together."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("Rss", "Pss"):
                    kib = int(value.split()[0]) * 1024
                    rss += kib if name == "Rss" else 0
                    pss += kib if name == "Pss" else 0
        except OSError:
            continue
    return rss, pss


def descendants(pid: int) -> list[int]:
    found = [pid]
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            found += descendants(int(child))
    except OSError:
        pass
    return found


def cgroup_charge(pid: int) -> int | None:
    """What the memory cgroup of a sandbox's interpreter is charged (bytes)."""
    parents = cgroups.cgroup_parents()
    if parents.memory is None:
        return None
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if ("memory" in controllers.split(",")) if not parents.v2 else controllers == "":
            mount = cgroups.CGROUP_ROOT / ("" if parents.v2 else "memory")
            group = cgroups._under(mount, path)
            usage = group / ("memory.current" if parents.v2 else "memory.usage_in_bytes")
            return int(usage.read_text())
    return None


def waiting_pool(size: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with pool_of(size):
        started = time.perf_counter()
        wait_full(size)
        rows.append((f"pool of {size} filled from empty in", ms(time.perf_counter() - started)))
        pool = sandbox_warm.pool()
        trees = [descendants(pid) for pid in pool.waiting_pids()]
        for number, tree in enumerate(trees, 1):
            rss, pss = memory_of(tree)
            charge = cgroup_charge(tree[-1])
            rows.append(
                (
                    f"warm sandbox {number}: RSS / PSS / cgroup charge",
                    f"{rss / MB:.0f} / {pss / MB:.0f} / "
                    + (f"{charge / MB:.0f} MB" if charge is not None else "n/a"),
                )
            )
            rows.append((f"warm sandbox {number}: CPU to start", ms(tree_cpu_seconds(tree[0]))))
        thread = next(t for t in threading.enumerate() if t.name == "warm-sandboxes")
        thread_stat = Path(f"/proc/self/task/{thread.native_id}/stat")

        def idle_cpu() -> float:
            fields = thread_stat.read_text().rsplit(")", 1)[1].split()
            own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            return own + sum(tree_cpu_seconds(tree[0]) for tree in trees)

        before = idle_cpu()
        time.sleep(10)
        rows.append(
            ("CPU of the waiting pool over 10 s (thread + sandboxes)", ms(idle_cpu() - before))
        )
    return rows


async def in_process(runs: int) -> None:
    print(
        f"sandbox, in this process ({load()}; TEST_SANDBOX_CONCURRENCY="
        f"{settings.TEST_SANDBOX_CONCURRENCY}, isolation: {sandbox.isolation_label()})"
    )
    default_pool = max(1, int(settings.TEST_SANDBOX_WARM))
    for name, files in (("trivial test", TRIVIAL), ("SDK-importing test (seeded quick test)", SDK)):
        print(f"\n{name}, one at a time, {runs} runs")
        with pool_of(0):
            cold, _ = await one_at_a_time(files, runs, 0)
        print(f"  cold                               {p50_p95(cold)}")
        with pool_of(default_pool, forced=files is TRIVIAL):
            warm, ran_warm = await one_at_a_time(files, runs, default_pool)
        label = "warm (forced)" if files is TRIVIAL else "warm"
        print(f"  {label:<34} {p50_p95(warm)}  ({ran_warm}/{runs} warm)")
        if files is SDK:
            with pool_of(default_pool):
                await asyncio.to_thread(wait_full, default_pool)
                back, ran_warm = await one_at_a_time(files, runs, 0)
            print(
                f"  warm, back to back (no refill wait) {p50_p95(back)}  ({ran_warm}/{runs} warm)"
            )
        print(f"  10 at once ({load()})")
        for label, size, forced in (
            ("cold", 0, False),
            (f"warm, pool of {default_pool}", default_pool, files is TRIVIAL),
            ("warm, pool of 10", 10, files is TRIVIAL),
        ):
            with pool_of(size, forced):
                wall, each, ran_warm = await at_once(files, 10, size)
            print(f"    {label:<22} wall {ms(wall):>9}  each {p50_p95(each)}  ({ran_warm}/10 warm)")
    print(f"\nwarm sandboxes waiting ({load()})")
    for label, value in await asyncio.to_thread(waiting_pool, default_pool):
        print(f"  {label:<58} {value}")


# --- The three-round loop on a real server ------------------------------------------

LOOP_SETUP = """
import json
from django.contrib.auth.models import User
from accounts.tokens import create_token
from projects.models import TestCase
from projects.services import create_project
from sessions_app.services import get_or_create_session
user = User.objects.create_user("bench", password="bench-pass-1")
ids = []
for n in range({projects}):
    project = create_project(user, f"Bench {{n}}", {code!r})
    TestCase.objects.create(project=project, name="Workflow structure", test_code={test!r},
                            quick_test=True)
    session, _ = get_or_create_session(project, "global")
    ids.append((str(project.id), str(session.id)))
print(json.dumps({{"token": create_token(user), "ids": ids}}))
"""


def loop_responder() -> Callable[[Any], Any]:
    from agents_app.patching.render import unified_diff
    from tests.support.model_server import custom_tool_call, text

    new_code = SAMPLE_CODE.replace("payments and refunds.", "payments and refunds, kindly.", 1)
    assert new_code != SAMPLE_CODE
    patch = "Be kind\n" + unified_diff(SAMPLE_CODE, new_code, "workflow.py")
    verdict = json.dumps({"approved": False, "reasoning": "Not kind enough.", "commit_message": ""})

    def answer(request: Any) -> Any:
        if "You are the Evaluator" in (request.instructions or ""):
            return text(verdict)
        return custom_tool_call("submit_patch", patch)

    return answer


def serve_model(base_url: "multiprocessing.Queue[str]") -> None:
    from tests.support.model_server import ModelServer

    model = ModelServer()
    model.start()
    model.route(loop_responder())
    base_url.put(model.base_url)
    threading.Event().wait()


async def loop_runs(
    server: Any, token: str, pairs: list[tuple[str, str]], quick_tests: bool
) -> list[float]:
    import httpx
    import websockets
    from websockets.typing import Origin

    times: list[float] = []
    async with httpx.AsyncClient(
        headers={"Authorization": f"Token {token}"}, timeout=120
    ) as client:
        for project_id, session_id in pairs:
            await asyncio.sleep(10)  # a person reads and types: the pool refills meanwhile
            url = f"ws://127.0.0.1:{server.port}/ws/projects/{project_id}/?token={token}"
            async with websockets.connect(url, origin=Origin("http://localhost")) as ws:
                started = time.perf_counter()
                response = await client.post(
                    f"{server.url}/api/sessions/{session_id}/messages",
                    json={"prompt": "be kinder"},
                )
                assert response.status_code == 202, response.text
                quick = 0
                while True:
                    event = json.loads(await ws.recv())
                    if event["type"] == "quick_test" and event["status"] in ("passed", "failed"):
                        quick += 1
                    if event["type"] == "run_finished":
                        times.append(time.perf_counter() - started)
                        assert event["outcome"] == "max_iterations", event
                        assert quick == (3 if quick_tests else 0), quick
                        break
    return times


async def loop(runs: int) -> None:
    from tests.support.servers import AppServer

    context = multiprocessing.get_context("fork")
    base_url: multiprocessing.Queue[str] = context.Queue()
    model = context.Process(target=serve_model, args=(base_url,), daemon=True)
    model.start()
    url = base_url.get(timeout=30)
    print(f"\nthree-round loop, one quick test, zero model latency, fresh project each ({load()})")
    try:
        default_pool = str(max(1, settings.TEST_SANDBOX_WARM))
        for label, warm, quick_tests in (
            ("no quick tests (the loop alone)", "0", "false"),
            ("cold", "0", "true"),
            (f"warm, pool of {default_pool}", default_pool, "true"),
            ("warm, pool of 4", "4", "true"),
        ):
            server = AppServer(
                None,
                OPENAI_BASE_URL=url,
                OPENAI_API_KEY="bench",
                TEST_SANDBOX_WARM=warm,
                VIBECODE_RUN_QUICK_TESTS=quick_tests,
                # As production runs: DEBUG off.
                DEBUG="false",
                SECRET_KEY="bench-only-" + "x" * 40,
                SECURE_SSL_REDIRECT="false",
            )
            try:
                server.manage("migrate", "--no-input", "-v0")
                made = server.python(
                    LOOP_SETUP.format(projects=runs + 1, code=SAMPLE_CODE, test=STRUCTURE_TEST)
                )
                pairs = [tuple(pair) for pair in made["ids"]]
                server.start()
                times = await loop_runs(server, made["token"], pairs, quick_tests == "true")
            finally:
                server.stop()
            # The first run includes the server's first SDK run (its own imports).
            print(f"  {label:<32} first {ms(times[0]):>9}  then {p50_p95(times[1:])}  ({load()})")
    finally:
        model.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--loop", type=int, default=0, help="three-round loop runs (0: none)")
    parser.add_argument("--skip-sandbox", action="store_true", help="only the loop")
    args = parser.parse_args()
    if not args.skip_sandbox:
        asyncio.run(in_process(args.runs))
    if args.loop:
        asyncio.run(loop(args.loop))


if __name__ == "__main__":
    main()
