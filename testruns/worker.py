"""The sandbox worker: a Celery worker that runs queued sandboxed jobs (`testruns.jobs`).

`python -m testruns.worker` (fly.toml's `worker` process group) consumes the `sandbox`
queue with `TEST_SANDBOX_CONCURRENCY` threads, each handing its job to one asyncio
event loop of the process, where `testruns.sandbox.run_test` runs it exactly as a web
process of `inline` mode would: the same slots, limits and warm pool (filled at start).

Per job: claim it (a Redis key set once, so a redelivered or abandoned copy never runs
twice), keep its `alive` key fresh while it runs, reply `running` when it has a sandbox
and then its result, on the job's reply list that the web side pops.

Crash safety: a worker killed mid-job leaves its claim without `alive`; the web side
sees that within seconds and sends the job again (`testruns.jobs`). Its sandbox
processes die with it (bubblewrap's `--die-with-parent`); its cgroups, named after it,
are removed by the next worker to start on the host, by the worker that runs the job
again, and by every worker's sweep every `SWEEP_SECONDS`.

SIGTERM drains: Celery stops taking jobs and waits for the running ones; a job still
running `SANDBOX_WORKER_DRAIN_SECONDS` later is stopped (its sandbox killed and
removed) and replied `requeue`, so another worker runs it. Keep the drain under the
platform's kill timeout (fly.toml `kill_timeout`).
"""

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import os
import socket
import threading
from collections.abc import Coroutine
from typing import Any

from celery import signals
from django.conf import settings
from django.utils.module_loading import import_string
from redis.exceptions import RedisError

from testruns import jobs, sandbox
from testruns.sandbox import SandboxLimits
from testruns.sandbox import warm as sandbox_warm

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 30.0
# A stopped call's time to store how it ended.
CALL_STOP_SECONDS = 5.0

# Takes the attempt's claim once; its `alive` key with it, so no instant shows a claim
# without a heartbeat.
_CLAIM = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('set', KEYS[2], '1', 'EX', ARGV[3])
  return 1
end
return 0
"""

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()
_jobs: set["asyncio.Task[None]"] = set()
# The calls started on the loop (`run_call`), for the drain to wait on.
_calls: set["concurrent.futures.Future[None]"] = set()
_draining = False


def loop() -> asyncio.AbstractEventLoop:
    """The process's event loop for sandboxes, in a thread of its own (started once)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="sandbox-loop", daemon=True).start()
            asyncio.run_coroutine_threadsafe(_sweep_forever(), _loop)
        return _loop


def run_call(target: str, args: list[Any]) -> None:
    """The Celery task of a call (`jobs.CALL_TASK_NAME`): starts `target(*args)` on the
    event loop and returns (a trial holds a trial slot for minutes; no pool thread, which
    a test job needs, waits on it). Draining waits for the calls, then stops them."""
    if target not in settings.SANDBOX_WORKER_CALLS:
        logger.error("call of %s refused: not in SANDBOX_WORKER_CALLS", target)
        return
    function = import_string(target)
    future = asyncio.run_coroutine_threadsafe(_tracked(function(*args)), loop())
    _calls.add(future)
    future.add_done_callback(_calls.discard)


async def _tracked(work: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.current_task()
    assert task is not None
    _jobs.add(task)
    try:
        await work
    except Exception:
        logger.exception("a call on the sandbox worker failed")
    finally:
        _jobs.discard(task)


def run_job(payload: dict[str, Any]) -> None:
    """The Celery task (`jobs.TASK_NAME`), in a thread of the worker's pool."""
    asyncio.run_coroutine_threadsafe(_run(payload), loop()).result()


async def _run(payload: dict[str, Any]) -> None:
    client = jobs.redis_client()
    attempt = str(payload["attempt"])
    replies, claim, alive = (jobs.key("job", attempt, p) for p in ("replies", "claim", "alive"))
    token = f"{socket.gethostname()}:{os.getpid()}"
    claimed = await client.eval(
        _CLAIM, 2, claim, alive, token, jobs.CLAIM_SECONDS, jobs.ALIVE_SECONDS
    )
    if not claimed:
        logger.info("sandbox job %s: already run or abandoned; skipped", attempt)
        return
    task = asyncio.current_task()
    assert task is not None
    _jobs.add(task)
    beating = asyncio.create_task(_heartbeat(client, alive), name=f"sandbox-alive-{attempt}")

    async def reply(message: dict[str, Any]) -> None:
        async with client.pipeline(transaction=True) as pipe:
            pipe.rpush(replies, json.dumps(message))
            pipe.expire(replies, jobs.REPLY_SECONDS)
            await pipe.execute()

    async def running() -> None:
        await reply({"kind": "running"})

    message: dict[str, Any]
    try:
        if payload.get("after_loss"):
            await asyncio.to_thread(_sweep)
        limits = SandboxLimits(**payload["limits"])
        result = await sandbox.run_test(
            dict(payload["files"]), str(payload["entrypoint"]), limits, on_start=running
        )
        message = {"kind": "result", "result": dataclasses.asdict(result)}
    except sandbox.SandboxUnavailable as exc:
        message = {"kind": "unavailable", "message": str(exc)}
    except asyncio.CancelledError:
        # Stopped by the drain: its sandbox is gone (run_test's cleanup ran); another
        # worker runs it.
        message = {"kind": "requeue"}
    except Exception as exc:
        logger.exception("sandbox job %s failed", attempt)
        message = {"kind": "failed", "message": str(exc) or type(exc).__name__}
    finally:
        _jobs.discard(task)
        beating.cancel()
    try:
        await reply(message)
    finally:
        await client.delete(alive)


async def _heartbeat(client: Any, alive: str) -> None:
    while True:
        await asyncio.sleep(jobs.HEARTBEAT_SECONDS)
        # One missed beat must not end the beating: the key outlives a few.
        with contextlib.suppress(RedisError):
            await client.set(alive, "1", ex=jobs.ALIVE_SECONDS)


def _sweep() -> None:
    removed = sandbox.remove_leftovers()
    if removed:
        logger.warning("removed %d leftovers of dead sandbox runs", len(removed))


async def _sweep_forever() -> None:
    while True:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(_sweep)
        await asyncio.sleep(SWEEP_SECONDS)


def _stop_jobs() -> None:
    for task in list(_jobs):
        task.cancel()


def drain(how: str) -> None:
    """On SIGTERM (Celery's warm shutdown): running jobs get the drain budget, then are
    stopped and requeued; at once on a cold shutdown."""
    global _draining
    if _draining and how != "Cold":
        return
    _draining = True
    seconds = 0.0 if how == "Cold" else float(settings.SANDBOX_WORKER_DRAIN_SECONDS)
    logger.warning("sandbox worker draining: %d jobs get %g s", len(_jobs), seconds)
    running = loop()
    running.call_soon_threadsafe(running.call_later, seconds, _stop_jobs)
    # Celery waits for its pool's jobs, not for the calls: this does (they end once
    # stopped, storing how they ended).
    if _calls:
        concurrent.futures.wait(list(_calls), timeout=seconds + CALL_STOP_SECONDS)


def configure() -> Any:
    """The Celery app with the task and the drain hooked in."""
    app = jobs.celery_app()
    app.task(name=jobs.TASK_NAME)(run_job)
    app.task(name=jobs.CALL_TASK_NAME)(run_call)

    def on_shutting_down(sig: Any = None, how: str = "Warm", **_: Any) -> None:
        drain(how)

    signals.worker_shutting_down.connect(on_shutting_down, weak=False)
    return app


def main() -> None:
    # This process runs the sandboxes (settings read SANDBOX_JOBS before django.setup).
    os.environ["SANDBOX_JOBS"] = "worker"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibegrapher.settings")
    import django

    django.setup()
    if not jobs.broker_url():
        raise SystemExit("The sandbox worker needs SANDBOX_BROKER_URL or REDIS_URL (its queue).")
    _sweep()  # what workers that died on this host left
    sandbox_warm.start()
    loop()
    app = configure()
    concurrency = max(1, int(settings.TEST_SANDBOX_CONCURRENCY))
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency}",
            f"--queues={jobs.QUEUE}",
            f"--hostname=sandbox-{os.getpid()}@%h",
            f"--loglevel={settings.LOG_LEVEL}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


if __name__ == "__main__":
    main()
