"""Where sandboxed work runs: in this process, or on the workers through a queue.

Every caller of the sandbox (tests on a diff, tests at HEAD, quick tests in the loop)
calls `run_sandboxed`, which `SANDBOX_JOBS` decides:

- `inline` (the default, `make run`): `testruns.sandbox.run_test` in this process,
  bounded by its `TEST_SANDBOX_CONCURRENCY` slots, as before;
- `queue` (production's web machines): the job (files, entrypoint, limits) is sent to
  Celery on Redis (`SANDBOX_BROKER_URL`, default `REDIS_URL`) and awaited here while a
  worker (`python -m testruns.worker`, `testruns/worker.py`) runs it in its sandbox.
  This process then runs no sandbox at all: `testruns.sandbox.run_test` refuses to;
- `worker`: set by the worker command itself, never by hand.

The web side waits without blocking its event loop: the worker pushes its replies
(`running` when the job has a sandbox, then the result) to a Redis list of the job's
own that this side pops (BLPOP through redis.asyncio), so the caller's `on_start` runs
here and the page sees `queued`, `running` and the result as before.

Fair share: at most `SANDBOX_JOBS_PER_USER` jobs of one user are in the queue or
running at once, across every web process (a Redis sorted set of leases per user);
the user's further jobs wait here, so one user's 100 jobs put at most that many ahead
of another user's one.

Worker loss: a worker keeps a short-lived `alive` key per running job. When it goes
while its job was claimed, this side sends the job again once (a new attempt; the
dead attempt can never run again: its claim key stays), and after a second loss it
raises `JobLost`, which callers store as an `error` saying why. A worker draining
on SIGTERM replies `requeue` for a job it had to stop: it is sent again without
counting as a loss. Celery's own acks-late with a visibility timeout puts back
messages a dead worker had taken but not claimed.
"""

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import redis.asyncio as aioredis
from celery import Celery
from django.conf import settings

from testruns import sandbox
from testruns.sandbox import SandboxLimits, SandboxResult

logger = logging.getLogger(__name__)

Mode = Literal["inline", "queue", "worker"]
MODES: tuple[Mode, ...] = ("inline", "queue", "worker")

TASK_NAME = "testruns.run_sandboxed"
# A call of a function the workers may run (`SANDBOX_WORKER_CALLS`): work that needs
# more than a sandbox's result, such as a trial run with its model proxy beside it.
CALL_TASK_NAME = "testruns.call"
QUEUE = "sandbox"
# A worker refreshes a running job's `alive` key this often; it expires after
# ALIVE_SECONDS without one, and then the job's worker counts as gone.
HEARTBEAT_SECONDS = 1.0
ALIVE_SECONDS = 5
# The web side looks at a waiting job's worker this often (between replies, which wake
# it at once), and a user's job waiting for a slot retries this often (a release wakes
# it at once; this only catches a lease that expired).
POLL_SECONDS = 2
SLOT_POLL_SECONDS = 5
# How long a claim stands: a redelivered copy of an attempt (Celery restores an
# unacknowledged message after the visibility timeout) finds it and does not run.
CLAIM_SECONDS = 3600
# A message a worker took but never acknowledged (it died) goes back to the queue
# after this long. Jobs are claimed as soon as they are taken, so only a message taken
# by a worker that died at that instant waits this long.
VISIBILITY_TIMEOUT_SECONDS = 120
# Replies nobody reads (the web process went) disappear after this long.
REPLY_SECONDS = 600
# A user's lease on a job slot lasts this long unless the waiting web process renews it.
LEASE_SECONDS = 30
# A job stopped by draining workers is sent again at most this many times.
MAX_REQUEUES = 3
ABANDONED = b"abandoned"


class JobLost(Exception):
    """The job could not be run on a worker; the message says why and what to do."""


def mode() -> Mode:
    value = str(settings.SANDBOX_JOBS)
    assert value in MODES, value  # settings.py refuses any other
    return value  # type: ignore[return-value]


def runs_here() -> bool:
    """Whether this process runs sandboxes itself (not a web process of `queue` mode)."""
    return mode() != "queue"


def check_available() -> None:
    """Raise SandboxUnavailable when sandboxed jobs cannot run at all (sync: call it in a
    thread). In `queue` mode the workers check their own sandbox, per job."""
    if runs_here():
        sandbox.check_sandbox()


async def run_sandboxed(
    files: dict[str, str],
    entrypoint: str,
    limits: SandboxLimits,
    *,
    user_id: int | None = None,
    on_start: Callable[[], Awaitable[None]] | None = None,
) -> SandboxResult:
    """Run `python <entrypoint>` over `files` in a sandbox, here or on a worker.

    `on_start` is awaited once the job has a sandbox (it is "running" from then on);
    `user_id` is whose job it is (fair share between users; None: shared by all such).
    Raises SandboxUnavailable, or JobLost when workers lost it twice or none took it.
    """
    if runs_here():
        return await sandbox.run_test(files, entrypoint, limits, on_start)
    started = False

    async def once() -> None:
        nonlocal started
        if not started and on_start is not None:
            started = True
            await on_start()

    client = redis_client()
    job_id = uuid.uuid4().hex
    async with _user_slot(client, user_id, job_id):
        losses = requeues = 0
        for attempt in range(1, 2 + MAX_REQUEUES + 1):
            attempt_id = f"{job_id}-{attempt}"
            payload = {
                "attempt": attempt_id,
                "files": files,
                "entrypoint": entrypoint,
                "limits": dataclasses.asdict(limits),
                # A worker gone mid-job left its cgroups: the next one sweeps first.
                "after_loss": losses > 0,
            }
            await asyncio.to_thread(_send, payload)
            reply = await _await_reply(client, attempt_id, once)
            if isinstance(reply, SandboxResult):
                return reply
            if reply == "requeue":
                requeues += 1
                if requeues > MAX_REQUEUES:
                    break
                continue
            losses += 1
            if losses >= 2:
                raise JobLost(
                    "the worker running this test stopped, and so did the one that ran it "
                    "again: run the tests again, and check the workers' logs"
                )
            logger.warning("sandbox job %s: its worker stopped; sending it again", attempt_id)
    raise JobLost(
        f"workers stopped this test {MAX_REQUEUES + 1} times while shutting down: "
        "run the tests again once the deployment is over"
    )


# --- Redis: keys, client ------------------------------------------------------------------


def broker_url() -> str:
    return str(settings.SANDBOX_BROKER_URL)


def key(*parts: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}sandbox:{':'.join(parts)}"


_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]" = (
    weakref.WeakKeyDictionary()
)


def redis_client() -> aioredis.Redis:
    """This event loop's client (redis.asyncio connections belong to one loop)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        # Reads wait longer than the BLPOPs below.
        client = aioredis.Redis.from_url(broker_url(), socket_timeout=15)
        _clients[loop] = client
    return client


@functools.cache
def celery_app() -> Celery:
    """The Celery app both sides share: the web side sends, `testruns.worker` consumes."""
    app = Celery("vibegrapher", broker=broker_url(), set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # results come back on the job's own reply list
        # Acknowledged once the job is done: a message of a worker that died goes back.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A worker takes only what it runs at once, so the queue stays fair and shared.
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
            "global_keyprefix": f"{settings.REDIS_KEY_PREFIX}celery:",
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


def _send(payload: dict[str, Any]) -> None:
    celery_app().send_task(TASK_NAME, args=[payload], queue=QUEUE)


def send_call(target: str, *args: Any) -> None:
    """Have a worker run `await target(*args)` (sync; in a thread). `target` is the
    dotted path of an async function listed in `SANDBOX_WORKER_CALLS`; `args` are JSON.
    The worker starts it and takes the next job: the call reports its own progress
    (through the database and the channel layer), and a worker that dies leaves it to
    its owner's heartbeat to be seen dead."""
    if target not in settings.SANDBOX_WORKER_CALLS:
        raise ValueError(f"{target} is not in SANDBOX_WORKER_CALLS")
    celery_app().send_task(CALL_TASK_NAME, args=[target, list(args)], queue=QUEUE)


def prepare() -> None:
    """Connect to the queue ahead of the first job (at a web process's start, in a
    thread): the first connection imports and sets up Celery's Redis transport, about
    0.2 s of CPU that would otherwise hold the interpreter while requests wait."""
    try:
        with celery_app().producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
    except Exception as exc:  # the first job connects (and says why it cannot)
        logger.warning("the sandbox queue at %s is not reachable yet: %s", broker_url(), exc)


# --- Waiting for a reply ----------------------------------------------------------------

Lost = Literal["lost", "requeue"]


async def _await_reply(
    client: aioredis.Redis, attempt_id: str, on_start: Callable[[], Awaitable[None]]
) -> SandboxResult | Lost:
    """The attempt's result, or why there is none: its worker went ("lost"), or stopped
    it to shut down ("requeue"). Raises JobLost when no worker takes it in time."""
    replies, claim, alive = (key("job", attempt_id, p) for p in ("replies", "claim", "alive"))
    give_up_at = time.monotonic() + float(settings.SANDBOX_QUEUE_WAIT_SECONDS)
    try:
        while True:
            popped = await client.blpop([replies], timeout=POLL_SECONDS)
            body: Any
            if popped is not None:
                body = popped[1]
            else:
                owner, beating = await client.mget([claim, alive])
                if owner is None:
                    if time.monotonic() < give_up_at:
                        continue  # still queued
                    if await client.set(claim, ABANDONED, nx=True, ex=CLAIM_SECONDS):
                        waited = float(settings.SANDBOX_QUEUE_WAIT_SECONDS)
                        raise JobLost(
                            f"no worker took this test within {waited:g} s: check that the "
                            "sandbox workers run (fly: the worker process group), then run "
                            "the tests again"
                        )
                    continue  # a worker claimed it just now
                if beating is not None:
                    continue
                # Its worker finished (reply pushed, then `alive` dropped) or went.
                body = await client.lpop(replies)
                if body is None:
                    return "lost"
            reply = json.loads(body)
            if reply["kind"] == "running":
                await on_start()
            elif reply["kind"] == "result":
                return SandboxResult(**reply["result"])
            elif reply["kind"] == "requeue":
                return "requeue"
            elif reply["kind"] == "unavailable":
                raise sandbox.SandboxUnavailable(reply["message"])
            else:
                raise JobLost(f"the worker could not run this test: {reply['message']}")
    except asyncio.CancelledError:
        # Nobody waits any more: a copy still queued must not run.
        with contextlib.suppress(Exception):
            await asyncio.shield(client.set(claim, ABANDONED, nx=True, ex=CLAIM_SECONDS))
        raise


# --- Fair share: each user's jobs in the queue at once ---------------------------------

# Drops expired leases, then takes one when the user holds fewer than the limit.
_TAKE_LEASE = """
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
if redis.call('zcard', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('zadd', KEYS[1], ARGV[3], ARGV[4])
  redis.call('expire', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


@contextlib.asynccontextmanager
async def _user_slot(
    client: aioredis.Redis, user_id: int | None, job_id: str
) -> AsyncIterator[None]:
    """Hold one of the user's `SANDBOX_JOBS_PER_USER` leases while the job is queued or
    runs; wait here (holding nothing in the queue) until one is free."""
    user = "shared" if user_id is None else str(user_id)
    leases, freed = key("user", user, "leases"), key("user", user, "freed")
    limit = max(1, int(settings.SANDBOX_JOBS_PER_USER))
    while not await client.eval(
        _TAKE_LEASE, 1, leases, time.time(), limit, time.time() + LEASE_SECONDS, job_id,
        LEASE_SECONDS,
    ):  # fmt: skip
        # Woken by a release, or anyway after a while (a lease that expired).
        await client.blpop([freed], timeout=SLOT_POLL_SECONDS)

    async def renew() -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            await client.zadd(leases, {job_id: time.time() + LEASE_SECONDS}, xx=True)

    renewing = asyncio.create_task(renew(), name=f"sandbox-lease-{job_id}")
    try:
        yield
    finally:
        renewing.cancel()

        async def release() -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.zrem(leases, job_id)
                pipe.rpush(freed, "1")
                pipe.ltrim(freed, -limit, -1)
                pipe.expire(freed, 60)
                await pipe.execute()

        # Even when cancelled: a lease left behind would hold the slot until it expires.
        with contextlib.suppress(Exception):
            await asyncio.shield(release())
