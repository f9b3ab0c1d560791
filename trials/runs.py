"""Start, follow, cancel and finish trial runs.

`start_trial` checks what it can before anything runs (a model is configured, the
sandbox can run here, the entry exists, the user is within their running and daily
limits), stores the trial as `queued` and leaves the run to a task of this process.
The task waits for one of the trial slots (`TRIAL_CONCURRENCY`, apart from the
tests'), runs the harness (`trials.harness`) in the sandbox with a grant of the model
proxy (`trials.proxy`), stores and emits each span as it arrives, and finishes the
trial with its answer or the error a person can act on.

A trial belongs to the process running it: a cancel asked through another process
sets a flag its task reads every half second, with its heartbeat; a trial whose
process died (silent for STALE_AFTER) is finished as `failed` when next read and at
that host's next start-up.
"""

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from projects.git import repository as git
from projects.models import Project
from reviews.models import Diff
from sessions_app import events
from sessions_app.events import TrialSpan as SpanDict
from testruns import jobs, sandbox
from testruns.sandbox import mounts
from trials import entry as entries
from trials import proxy
from trials.models import Trial, TrialSpan
from vibegrapher.lib.background import BackgroundTasks, in_thread

logger = logging.getLogger(__name__)

HARNESS = Path(__file__).with_name("harness.py")
HARNESS_FILE = "vibegrapher_trial.py"
# The project's file, whatever its name in the repository: a file named `agents.py`
# would hide the SDK's package.
WORKFLOW_FILE = "workflow.py"
CANCEL_POLL_SECONDS = 0.5
STALE_AFTER = timedelta(seconds=30)
MAX_SPANS = 2000
MAX_SPAN_DATA_BYTES = 64 * 1024
PROCESS_OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
OWNER_DIED = "The server running this trial stopped before it finished: run it again."
NO_WORKER = (
    "No sandbox worker took this trial within SANDBOX_QUEUE_WAIT_SECONDS: check that the "
    "workers run (python -m testruns.worker), then run it again."
)
# The owner of a trial sent to the sandbox workers and not yet taken by one.
SENT_TO_WORKERS = "queue"
QUEUED_CALL = "trials.runs.run_queued"
RESTARTED = "The server restarted while this trial ran: run it again."

_running = BackgroundTasks("trials")


class TrialRefused(Exception):
    """The trial cannot start; `status` is the HTTP status that says so."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Plan:
    trial_id: uuid.UUID
    project_id: uuid.UUID
    diff_id: uuid.UUID | None
    side: str
    entry: entries.Entry | None
    input: str
    code: str
    budget: proxy.Budget


# --- Starting --------------------------------------------------------------------------


def model_configured() -> bool:
    return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)


def spent_today(user_id: int) -> Decimal:
    since = timezone.now() - timedelta(days=1)
    total = Trial.objects.filter(user_id=user_id, created_at__gte=since).aggregate(
        total=Sum("cost_usd")
    )["total"]
    return Decimal(total or 0)


def _code(project: Project, diff: Diff | None, side: str) -> tuple[str, str]:
    """(code, commit) of the version tried."""
    if diff is None:
        return project.current_code, project.current_commit
    if side == Trial.Side.PATCHED:
        return diff.patched_code, ""
    try:
        return git.read_file_at(project.slug, project.main_file, diff.base_commit), diff.base_commit
    except git.GitError:
        raise TrialRefused(
            409, "The diff's base commit is no longer in the repository: try the patched side."
        ) from None


@in_thread
def _create(
    user: User, project_id: uuid.UUID, text: str, diff_id: uuid.UUID | None, side: str | None,
    pick: str | None,
) -> Plan:  # fmt: skip
    project = Project.objects.filter(id=project_id, owner=user).first()
    if project is None:
        raise TrialRefused(404, "No such project.")
    diff = None
    if diff_id is not None:
        diff = Diff.objects.filter(id=diff_id, project_id=project_id).first()
        if diff is None:
            raise TrialRefused(404, "No such diff in this project.")
        side = side or Trial.Side.PATCHED
    elif side not in (None, Trial.Side.HEAD):
        # 409, not 400: the body is well formed, its two fields disagree.
        raise TrialRefused(409, f"side {side!r} is a diff's code: give its diff_id too.")
    side = side or Trial.Side.HEAD
    code, commit = _code(project, diff, side)
    running = Trial.objects.filter(
        user=user,
        origin=Trial.Origin.PERSON,
        status__in=[Trial.Status.QUEUED, Trial.Status.RUNNING],
    ).count()
    if running >= settings.TRIAL_MAX_RUNNING_PER_USER:
        raise TrialRefused(
            429,
            f"You have {running} trials running (TRIAL_MAX_RUNNING_PER_USER="
            f"{settings.TRIAL_MAX_RUNNING_PER_USER}): wait for one to finish, or cancel one.",
        )
    version = CodeVersion(code, commit, diff.id if diff else None, side)
    return _store(project, user.id, version, text, pick, Trial.Origin.PERSON, None)


@dataclass(frozen=True)
class CodeVersion:
    """The code a trial runs: HEAD (`side` head), or a diff's base or patched code."""

    code: str
    commit: str
    diff_id: uuid.UUID | None
    side: str


@dataclass(frozen=True)
class Limits:
    """Tighter limits than the settings' for one trial (a run's behaviour budget)."""

    max_requests: int
    max_cost: Decimal


def _store(
    project: Project,
    user_id: int,
    version: CodeVersion,
    text: str,
    pick: str | None,
    origin: str,
    limits: Limits | None,
) -> Plan:
    """Check what does not depend on the caller, store the trial (queued), plan its run."""
    if not model_configured():
        raise TrialRefused(
            409,
            "No model is configured: set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL "
            "(and its key) for a compatible server, then try again.",
        )
    try:
        chosen = entries.choose(version.code, project.main_file, pick)
    except entries.NoEntry as exc:
        raise TrialRefused(400, str(exc)) from None
    daily = Decimal(str(settings.TRIAL_DAILY_COST_USD))
    left = daily - spent_today(user_id)
    if left <= 0:
        raise TrialRefused(
            429,
            f"Your trials cost ${daily} in the last 24 hours, the daily limit "
            "(TRIAL_DAILY_COST_USD): try again later, or raise it.",
        )
    trial = Trial.objects.create(
        project=project,
        user_id=user_id,
        diff_id=version.diff_id,
        side=version.side,
        commit=version.commit,
        origin=origin,
        entry=chosen.label if chosen else (pick or ""),
        entry_kind=chosen.kind if chosen else "agent",
        input=text,
        owner=PROCESS_OWNER,
        heartbeat_at=timezone.now(),
    )
    max_requests = settings.TRIAL_MAX_MODEL_REQUESTS
    max_cost = Decimal(str(settings.TRIAL_MAX_COST_USD))
    if limits is not None:
        max_requests = min(max_requests, limits.max_requests)
        max_cost = min(max_cost, limits.max_cost)
    budget = proxy.Budget(
        max_requests=max_requests,
        max_tokens=settings.TRIAL_MAX_TOKENS,
        max_cost=max_cost,
        daily_cost_left=left,
    )
    return Plan(
        trial.id, project.id, version.diff_id, version.side, chosen, text, version.code, budget
    )


async def start_trial(
    user: User,
    project_id: uuid.UUID,
    text: str,
    *,
    diff_id: uuid.UUID | None = None,
    side: str | None = None,
    entry: str | None = None,
) -> Trial:
    """Store the trial and start it; answers before it runs. Raises TrialRefused."""
    try:
        await asyncio.to_thread(jobs.check_available)
    except sandbox.SandboxUnavailable as exc:
        raise TrialRefused(503, f"Trials cannot run on this server: {exc}") from None
    plan = await _create(user, project_id, text, diff_id, side, entry)
    trial = await Trial.objects.aget(id=plan.trial_id)  # as stored: queued
    await events.emit(plan.project_id, _status_event(plan, "queued"))
    await _start(plan)
    return trial


async def _start(plan: Plan) -> None:
    """Run the trial in this process, or have a sandbox worker run it (SANDBOX_JOBS=queue):
    the model proxy must be where the sandbox is."""
    if jobs.runs_here():
        _running.start(plan.trial_id, _run(plan))
        return
    await _mark_sent(plan.trial_id)
    await asyncio.to_thread(jobs.send_call, QUEUED_CALL, plan_json(plan))


@in_thread
def _mark_sent(trial_id: uuid.UUID) -> None:
    Trial.objects.filter(id=trial_id).update(owner=SENT_TO_WORKERS)


async def run_to_end(
    user_id: int,
    project_id: uuid.UUID,
    version: CodeVersion,
    text: str,
    *,
    pick: str | None = None,
    limits: Limits | None = None,
) -> Trial:
    """A trial the server starts itself (a behaviour case's run): run now and awaited,
    not counted among the person's running trials; its spans and end are emitted like
    any trial's. Raises TrialRefused (no model, no such entry, daily budget spent) and
    SandboxUnavailable."""
    await asyncio.to_thread(jobs.check_available)
    project = await Project.objects.aget(id=project_id)
    plan = await in_thread(_store)(project, user_id, version, text, pick, Trial.Origin.CASE, limits)
    if jobs.runs_here():
        await _run(plan)
    else:
        await _start(plan)
        while (trial := await Trial.objects.aget(id=plan.trial_id)).status not in Trial.FINISHED:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            # Not taken in time, or its worker went silent: finished here, saying so.
            await in_thread(finish_dead)(Trial.objects.filter(id=trial.id))
        return trial
    return await Trial.objects.aget(id=plan.trial_id)


# --- On a sandbox worker (SANDBOX_JOBS=queue) ----------------------------------------------


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as a worker is sent it (its code included: the worker reads no git)."""
    return {
        "trial_id": str(plan.trial_id),
        "project_id": str(plan.project_id),
        "diff_id": str(plan.diff_id) if plan.diff_id else None,
        "side": plan.side,
        "entry": dataclasses.asdict(plan.entry) if plan.entry else None,
        "input": plan.input,
        "code": plan.code,
        "budget": {
            "max_requests": plan.budget.max_requests,
            "max_tokens": plan.budget.max_tokens,
            "max_cost": str(plan.budget.max_cost),
            "daily_cost_left": str(plan.budget.daily_cost_left),
        },
    }


def plan_of(data: dict[str, Any]) -> Plan:
    budget = data["budget"]
    return Plan(
        trial_id=uuid.UUID(data["trial_id"]),
        project_id=uuid.UUID(data["project_id"]),
        diff_id=uuid.UUID(data["diff_id"]) if data["diff_id"] else None,
        side=data["side"],
        entry=entries.Entry(**data["entry"]) if data["entry"] else None,
        input=data["input"],
        code=data["code"],
        budget=proxy.Budget(
            max_requests=int(budget["max_requests"]),
            max_tokens=int(budget["max_tokens"]),
            max_cost=Decimal(budget["max_cost"]),
            daily_cost_left=Decimal(budget["daily_cost_left"]),
        ),
    )


@in_thread
def _claim(trial_id: uuid.UUID) -> bool:
    """This worker's, if no other took it and it was not cancelled or given up meanwhile."""
    return bool(
        Trial.objects.filter(id=trial_id, status=Trial.Status.QUEUED, owner=SENT_TO_WORKERS).update(
            owner=PROCESS_OWNER, heartbeat_at=timezone.now()
        )
    )


async def run_queued(data: dict[str, Any]) -> None:
    """A trial sent to the workers (`SANDBOX_WORKER_CALLS`): run here, once."""
    plan = plan_of(data)
    if not await _claim(plan.trial_id):
        logger.info("trial %s: already taken, finished or cancelled; skipped", plan.trial_id)
        return
    _running.start(plan.trial_id, _run(plan))
    task = _running.get(plan.trial_id)
    if task is not None:
        await asyncio.shield(task)


def running_task(trial_id: uuid.UUID) -> asyncio.Task[None] | None:
    """The task of the trial in this process, if any (tests await it)."""
    return _running.get(trial_id)


def _status_event(plan: Plan, status: events.TrialStatus) -> events.TrialStatusEvent:
    label = plan.entry.label if plan.entry else ""
    return events.trial_status_event(
        plan.trial_id, plan.project_id, plan.diff_id, plan.side, label, status
    )


# --- Spans -----------------------------------------------------------------------------


def _clean_text(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return text.encode("utf-8", "replace").decode()[:limit]


def _clean_data(value: Any) -> Any:
    """The span's data as the sandbox sent it, lone surrogates replaced; too large: cut."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode()
    if isinstance(value, dict):
        return {_clean_data(str(k)): _clean_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_data(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def _span(raw: Any) -> SpanDict | None:
    """A span from the sandbox, checked (it is untrusted), or None when malformed."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
        return None
    data = raw.get("data")
    data = _clean_data(data) if isinstance(data, dict) else {}
    if len(json.dumps(data)) > MAX_SPAN_DATA_BYTES:
        data = {"type": data.get("type"), "cut": f"over {MAX_SPAN_DATA_BYTES} bytes"}
    parent = raw.get("parent_id")
    return {
        "type": _clean_text(raw.get("type"), 40) or "custom",
        "name": _clean_text(raw.get("name")),
        "id": _clean_text(raw["id"], 100),
        "parent_id": _clean_text(parent, 100) if isinstance(parent, str) else None,
        "started_at": _when(raw.get("started_at")),
        "ended_at": _when(raw.get("ended_at")),
        "data": data,
    }


def _when(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    return parsed.isoformat() if parsed else None


def _dt(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


@in_thread
def _store_spans(trial_id: uuid.UUID, spans: list[SpanDict]) -> None:
    latest = {span["id"]: span for span in spans}  # a batch may hold a start and its end
    rows = [
        TrialSpan(
            trial_id=trial_id,
            span_id=span["id"],
            parent_id=span["parent_id"],
            type=span["type"],
            name=span["name"],
            started_at=_dt(span["started_at"]),
            ended_at=_dt(span["ended_at"]),
            data=span["data"],
        )
        for span in latest.values()
    ]
    TrialSpan.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["trial", "span_id"],
        update_fields=["parent_id", "type", "name", "started_at", "ended_at", "data"],
    )


@dataclass
class _Recorder:
    """What the harness sent: spans (stored, then emitted) and its result."""

    plan: Plan
    result: dict[str, Any] | None = None
    last_agent: str = ""
    span_ids: set[str] = field(default_factory=set)
    dropped: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def on_events(self, received: list[dict[str, Any]]) -> None:
        async with self.lock:  # in the order sent, whatever the connections
            batch: list[tuple[Literal["start", "end"], SpanDict]] = []
            for event in received:
                kind = event.get("kind")
                if kind == "result" and self.result is None:
                    self.result = event
                    continue
                if kind not in ("span_start", "span_end"):
                    continue
                span = _span(event.get("span"))
                if span is None:
                    continue
                if span["id"] not in self.span_ids and len(self.span_ids) >= MAX_SPANS:
                    self.dropped += 1
                    continue
                self.span_ids.add(span["id"])
                if span["type"] == "agent" and kind == "span_start":
                    self.last_agent = span["name"]
                batch.append(("start" if kind == "span_start" else "end", span))
            if not batch:
                return
            await _store_spans(self.plan.trial_id, [span for _, span in batch])
            for phase, span in batch:
                await events.emit(
                    self.plan.project_id, events.trial_span_event(self.plan.trial_id, phase, span)
                )


# --- Running ---------------------------------------------------------------------------


def limits() -> sandbox.SandboxLimits:
    quick = sandbox.limits_for(quick=True)
    return sandbox.SandboxLimits(
        wall_seconds=float(settings.TRIAL_WALL_SECONDS),
        memory_bytes=quick.memory_bytes,
        disk_bytes=quick.disk_bytes,
        max_processes=quick.max_processes,
        max_output_bytes=quick.max_output_bytes,
        max_file_bytes=quick.max_file_bytes,
    )


def _files(plan: Plan, grant: proxy.Grant, socket_path: str) -> dict[str, str]:
    chosen = plan.entry or entries.Entry("agent", "", "")
    config = {
        "input": plan.input,
        "entry": {"kind": chosen.kind, "name": chosen.name},
        "main_file": WORKFLOW_FILE,
        "max_turns": settings.TRIAL_MAX_TURNS,
        "api": "chat_completions" if settings.OPENAI_API == "chat_completions" else "responses",
        "socket": socket_path,
        "capability": grant.capability,
    }
    return {
        WORKFLOW_FILE: plan.code,
        HARNESS_FILE: HARNESS.read_text(),
        "trial.json": json.dumps(config),
    }


@in_thread
def _mark_running(trial_id: uuid.UUID) -> None:
    Trial.objects.filter(id=trial_id, status=Trial.Status.QUEUED).update(
        status=Trial.Status.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now()
    )


@in_thread
def _beat(trial_id: uuid.UUID) -> bool:
    """Say the trial is alive; True when a person asked (through any process) to stop it."""
    Trial.objects.filter(id=trial_id).update(heartbeat_at=timezone.now())
    return Trial.objects.filter(id=trial_id, cancel_requested=True).exists()


async def _watch_cancel(trial_id: uuid.UUID) -> None:
    """Returns once the trial's cancel was asked for."""
    while True:
        await asyncio.sleep(CANCEL_POLL_SECONDS)
        try:
            if await _beat(trial_id):
                return
        except Exception as exc:  # a database hiccup: the next beat tries again
            logger.warning("trial %s heartbeat failed: %s", trial_id, exc)


@dataclass
class _Ending:
    status: events.TrialStatus = "failed"
    error: str = ""
    output: str = ""
    final_output: str | None = None


def _ending(recorder: _Recorder, grant: proxy.Grant, result: sandbox.SandboxResult) -> _Ending:
    output = result.output
    if result.status == "timeout":
        return _Ending(
            "timeout",
            f"The trial ran out of time: it may run {settings.TRIAL_WALL_SECONDS:g} s "
            "(TRIAL_WALL_SECONDS).",
            output,
        )
    answer = recorder.result
    if answer is None:
        why = f" ({result.limit})" if result.limit else ""
        tail = "\n".join(output.strip().splitlines()[-6:])
        return _Ending(
            "failed", f"The workflow stopped before it answered{why}:\n{tail}".strip(), output
        )
    error, kind = str(answer.get("error") or ""), str(answer.get("error_kind") or "")
    final = answer.get("final_output")
    final_output = final if isinstance(final, str) else None
    if not error:
        return _Ending("completed", "", output, final_output)
    if grant.refused:
        message = f"Budget reached: {grant.refused}."
    elif kind == "import":
        message = f"The workflow does not import:\n{error}"
    elif kind == "entry":
        message = f"{error} Pick an entry."
    elif kind == "max_turns":
        message = (
            f"The workflow used all its turns (TRIAL_MAX_TURNS={settings.TRIAL_MAX_TURNS}) "
            f"without a final answer:\n{error}"
        )
    elif kind == "model":
        message = f"The model call failed:\n{error}"
    else:
        message = f"The workflow raised an error:\n{error}"
    return _Ending("failed", message, output, final_output)


@in_thread
def _finish(plan: Plan, ending: _Ending, recorder: _Recorder, grant: proxy.Grant, ms: int) -> Trial:
    usage = grant.usage
    error = ending.error
    if recorder.dropped:
        error = (error + f"\n({recorder.dropped} spans over {MAX_SPANS} were not kept.)").strip()
    Trial.objects.filter(id=plan.trial_id).update(
        status=ending.status,
        final_output=ending.final_output,
        last_agent=recorder.last_agent,
        error=error,
        output=ending.output,
        requests=usage.requests,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=usage.cost,
        duration_ms=ms,
        finished_at=timezone.now(),
        owner="",
    )
    return Trial.objects.get(id=plan.trial_id)


def finished_event(trial: Trial) -> events.TrialFinishedEvent:
    return events.trial_finished_event(
        trial.id,
        trial.status,
        trial.final_output,
        trial.last_agent,
        trial.error,
        {
            "requests": trial.requests,
            "input_tokens": trial.input_tokens,
            "output_tokens": trial.output_tokens,
            "total_tokens": trial.total_tokens,
        },
        float(trial.cost_usd),
        trial.duration_ms,
    )


async def _run(plan: Plan) -> None:
    started = time.monotonic()
    recorder = _Recorder(plan)
    model_proxy = await proxy.proxy()
    grant = model_proxy.grant(plan.trial_id, plan.budget, recorder.on_events)
    ending = _Ending()

    async def running() -> None:
        await _mark_running(plan.trial_id)
        await events.emit(plan.project_id, _status_event(plan, "running"))

    socket_path = (
        f"{mounts.PROXY_DIR}/{proxy.SOCKET_NAME}"
        if sandbox.sandbox_mode() == "bwrap"
        else str(model_proxy.path)
    )
    job = asyncio.ensure_future(
        sandbox.run_test(
            _files(plan, grant, socket_path), HARNESS_FILE, limits(), running, lane="trials"
        )
    )
    watch = asyncio.ensure_future(_watch_cancel(plan.trial_id))
    try:
        done, _ = await asyncio.wait({job, watch}, return_when=asyncio.FIRST_COMPLETED)
        if job in done:
            ending = _ending(recorder, grant, job.result())
        else:
            ending = _Ending("cancelled", "Cancelled.")
    except asyncio.CancelledError:
        ending = (
            _Ending("failed", RESTARTED)
            if _Shutdown.started
            else _Ending("cancelled", "Cancelled.")
        )
    except Exception as exc:
        logger.exception("trial %s failed to run", plan.trial_id)
        ending = _Ending("failed", f"The trial could not be run: {exc}")
    finally:
        for task in (job, watch):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait({job, watch}, timeout=5)
        model_proxy.revoke(grant)
        ms = round((time.monotonic() - started) * 1000)
        trial = await asyncio.shield(_finish(plan, ending, recorder, grant, ms))
        await asyncio.shield(events.emit(plan.project_id, finished_event(trial)))


# --- Cancelling and dead owners ----------------------------------------------------------


class _Shutdown:
    started = False


async def end_trials(wait_seconds: float) -> int:
    """For a graceful shutdown: end every trial of this process as `failed`, saying the
    server restarted (each with its `trial_finished`); waits at most `wait_seconds`."""
    _Shutdown.started = True
    tasks = _running.tasks()
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=wait_seconds)
    return len(tasks)


async def end_trials_on_shutdown() -> None:
    count = await end_trials(settings.RUN_SHUTDOWN_SECONDS)
    if count:
        logger.info("shutdown: %d trials ended", count)


class NotRunning(Exception):
    """The trial has finished; nothing to cancel."""


@in_thread
def _cancel_unsent(trial_id: uuid.UUID) -> Trial | None:
    """A trial still waiting for a sandbox worker ends here, cancelled."""
    if Trial.objects.filter(id=trial_id, status=Trial.Status.QUEUED, owner=SENT_TO_WORKERS).update(
        status=Trial.Status.CANCELLED, error="Cancelled.", finished_at=timezone.now(), owner=""
    ):
        return Trial.objects.get(id=trial_id)
    return None


@in_thread
def _request_cancel(trial_id: uuid.UUID) -> bool:
    return bool(
        Trial.objects.filter(
            id=trial_id, status__in=[Trial.Status.QUEUED, Trial.Status.RUNNING]
        ).update(cancel_requested=True)
    )


async def cancel_trial(trial_id: uuid.UUID) -> bool:
    """Stop the trial: True when it ended here, False when its process was told (it
    stops within a second). Raises NotRunning when it has finished."""
    task = _running.get(trial_id)
    if task is None:
        unsent = await _cancel_unsent(trial_id)
        if unsent is not None:
            await events.emit(unsent.project_id, finished_event(unsent))
            return True
        if not await _request_cancel(trial_id):
            raise NotRunning("The trial has finished; there is nothing to cancel.")
        return False
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    return True


def finish_dead(queryset: Any) -> int:
    """Finish the trials of `queryset` whose process is silent (sync; on read and at
    start-up): `failed`, saying so, each with its `trial_finished`."""
    now = timezone.now()
    cutoff = now - STALE_AFTER
    waited = now - timedelta(seconds=float(settings.SANDBOX_QUEUE_WAIT_SECONDS))
    unfinished = queryset.filter(status__in=[Trial.Status.QUEUED, Trial.Status.RUNNING])
    # A trial waiting for a worker has no heartbeat: it may wait as long as a test job.
    silent = (Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)) & ~Q(owner=SENT_TO_WORKERS)
    never_taken = Q(owner=SENT_TO_WORKERS, created_at__lt=waited)
    dead = unfinished.filter(silent | never_taken).exclude(id__in=_running.keys())
    finished = 0
    for trial in list(dead):
        error = NO_WORKER if trial.owner == SENT_TO_WORKERS else OWNER_DIED
        if Trial.objects.filter(id=trial.id, status=trial.status, owner=trial.owner).update(
            status=Trial.Status.FAILED, error=error, finished_at=timezone.now(), owner=""
        ):
            finished += 1
            trial.refresh_from_db()
            events.emit_sync(trial.project_id, finished_event(trial))
    return finished


def recover_after_restart() -> int:
    """At start-up: trials whose process has been silent for STALE_AFTER are finished."""
    try:
        return finish_dead(Trial.objects.all())
    except Exception as exc:
        logger.warning("start-up sweep of dead trials skipped: %s", exc)
        return 0
