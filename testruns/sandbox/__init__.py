"""Run model-written Python in a sandbox it cannot leave (bubblewrap on Linux).

Guarantees with bubblewrap (`TEST_SANDBOX=bwrap`, the default):
- no network: the code gets its own, empty network namespace; the one way out is the
  model proxy's Unix socket (`mounts.PROXY_DIR`, read-only), which answers only a
  trial's capability (`trials.proxy`);
- its own PID, IPC and UTS namespaces, and a user namespace where it is `nobody`;
- a read-only file system holding only the OS's /usr, the Python interpreter and
  the virtualenv; the test's directory, /tmp and /dev/shm are the writable places,
  each a RAM-backed tmpfs of `disk_bytes` (nothing lands on the host's disk); the
  project, media, database and home directories are absent (but for the
  interpreter's own directory, when it lives in one);
- an empty environment except PATH/HOME/locale: no OPENAI_API_KEY, SECRET_KEY or
  DATABASE_URL (bubblewrap itself is started with an empty environment too);
- a seccomp filter refusing what a test never needs (namespaces, mount, chroot,
  ptrace, keyrings, bpf, perf events);
- limits: wall time (quick 5 s, full 30 s); one memory budget for all the test's
  processes and its tmpfs files together (a memory cgroup), plus the same figure as
  each process's address space; 64 processes (a pids cgroup, since the kernel
  exempts a root server from RLIMIT_NPROC); 16 MB per written file; CPU seconds;
  the output kept (its tail) and capped; at most TEST_SANDBOX_CONCURRENCY sandboxes
  at once per server process, the others queued.
Where the host cannot enforce one of these, `isolation_label()` (shown on every
result) says which. A test that imports the Agents SDK may run in a warm sandbox
(`warm`): this same sandbox, started ahead with the SDK imported, for that one test
only.

Without bubblewrap the sandbox refuses to run and says why, unless the operator sets
`TEST_SANDBOX=unsafe-subprocess`: then the same limits and empty environment apply,
but no isolation, and every result says so.

The package, by role: `mounts` (namespaces and mounts: bubblewrap's command line),
`cgroups` (the per-test process and memory budget), `process` (limits, environment,
syscall filter, and running the command), `warm` (sandboxes started ahead, and
`warm_boot`, their interpreter); this module puts them together.
"""

import asyncio
import dataclasses
import logging
import shutil
import sys
import tempfile
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from django.conf import settings

from testruns.sandbox import cgroups, mounts, process
from testruns.sandbox.process import MB, SandboxLimits, Status, limits_for

__all__ = [
    "UNSAFE",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailable",
    "Status",
    "check_sandbox",
    "isolation_label",
    "limits_for",
    "remove_leftovers",
    "run_test",
    "sandbox_mode",
]

logger = logging.getLogger(__name__)

UNSAFE = "unsafe-subprocess"


class SandboxUnavailable(Exception):
    """The configured sandbox cannot run here; the message says how to fix it."""


@dataclass(frozen=True)
class SandboxResult:
    status: Status
    output: str
    duration: float
    returncode: int | None
    isolation: str
    # Which limit stopped the test, if one did: "out of memory", "disk limit",
    # "time limit", "output limit"; "" otherwise.
    limit: str = ""
    # Run in a warm sandbox (testruns/sandbox/warm.py) rather than one started for it.
    warm: bool = False


def sandbox_mode() -> str:
    return str(settings.TEST_SANDBOX)


def isolation_label() -> str:
    bwrap = sandbox_mode() == "bwrap"
    label = "bubblewrap" if bwrap else f"none (TEST_SANDBOX={UNSAFE})"
    if not cgroups.process_limit_enforced():
        label += " (no process limit: the server is root and has no pids cgroup)"
    if not cgroups.memory_budget_enforced():
        label += " (no memory budget: no memory cgroup, only a per-process limit)"
    program = process.seccomp_program()
    if bwrap and isinstance(program, str):
        label += f" (no syscall filter: {program})"
    from testruns.sandbox import warm  # it builds on this module

    return label + warm.note()


def check_sandbox() -> None:
    """Raise SandboxUnavailable when the configured mode cannot run on this machine."""
    mode = sandbox_mode()
    if mode == UNSAFE:
        return
    if mode != "bwrap":
        raise SandboxUnavailable(f"TEST_SANDBOX={mode!r} is unknown: use 'bwrap' or '{UNSAFE}'.")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed: install the Debian package bubblewrap, "
            f"or set TEST_SANDBOX={UNSAFE} to run tests without isolation."
        )
    problem = mounts.probe(bwrap)
    if problem:
        raise SandboxUnavailable(
            f"bubblewrap cannot create its namespaces here ({problem}); allow user "
            f"namespaces, or set TEST_SANDBOX={UNSAFE} to run tests without isolation."
        )


def syscall_filter_enforced() -> bool:
    return sandbox_mode() == "bwrap" and isinstance(process.seccomp_program(), bytes)


def remove_leftovers() -> list[Path]:
    """Remove the test cgroups and directories that processes no longer alive left
    (killed, or stopped mid-test); a live process's are left alone. Returns them."""
    parents = cgroups.cgroup_parents()
    found = [
        group
        for parent in dict.fromkeys(p for p in (parents.pids, parents.memory) if p)
        for group in parent.glob(f"{cgroups.CGROUP_PREFIX}*")
        if group.is_dir() and not group.name.startswith(process.TESTDIR_PREFIX)
    ]
    found += Path(tempfile.gettempdir()).glob(f"{process.TESTDIR_PREFIX}*")
    removed: list[Path] = []
    for path in found:
        if process.owner_alive(path.name):
            continue
        try:
            if path.is_relative_to(cgroups.CGROUP_ROOT):
                cgroups.remove_group(path)
            else:
                shutil.rmtree(path)
        except OSError as exc:
            logger.warning("leftover %s of a dead test run cannot be removed: %s", path, exc)
            continue
        removed.append(path)
    return removed


# --- Running ---------------------------------------------------------------------------

_Slots = dict[tuple[str, int], asyncio.Semaphore]
_slots: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slots]" = weakref.WeakKeyDictionary()


Lane = Literal["tests", "trials"]


def _slot(lane: Lane) -> asyncio.Semaphore:
    """The server-wide bound on sandboxes alive at once (per event loop, i.e. process),
    one per lane: a trial holds its sandbox for minutes, a quick test for a second, so
    trials never take the slots that tests wait for."""
    per_loop = _slots.setdefault(asyncio.get_running_loop(), {})
    setting = "TEST_SANDBOX_CONCURRENCY" if lane == "tests" else "TRIAL_CONCURRENCY"
    concurrency = max(1, int(getattr(settings, setting)))
    return per_loop.setdefault((lane, concurrency), asyncio.Semaphore(concurrency))


def _python() -> str:
    return sys.executable


def _check_names(files: dict[str, str], entrypoint: str) -> None:
    for name in files:
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"{name!r} is not a plain file name.")
    if entrypoint not in files:
        raise ValueError(f"{entrypoint!r} is not one of the files.")


def _write_files(workdir: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (workdir / name).write_text(content)
    workdir.chmod(0o777)  # writable by the sandbox's nobody


async def run_test(
    files: dict[str, str],
    entrypoint: str,
    limits: SandboxLimits,
    on_start: Callable[[], Awaitable[None]] | None = None,
    *,
    lane: Lane = "tests",
) -> SandboxResult:
    """Run `python <entrypoint>` in a sandbox holding `files`.

    Waits for one of the server's sandbox slots of `lane` first; `on_start` is awaited
    once the job has one (it is "running" from then on). Refused in a web process of
    `SANDBOX_JOBS=queue`: its jobs go to the workers (`testruns.jobs`).
    """
    if settings.SANDBOX_JOBS == "queue":
        raise SandboxUnavailable(
            "This process runs no sandbox (SANDBOX_JOBS=queue): its jobs go to the sandbox "
            "workers through testruns.jobs.run_sandboxed."
        )
    check_sandbox()
    _check_names(files, entrypoint)
    argv = [_python(), entrypoint]
    from testruns.sandbox import warm  # it builds on this module

    async with _slot(lane):
        if on_start is not None:
            await on_start()
        in_warm = await warm.run(files, entrypoint, limits)
        if in_warm is not None:
            return dataclasses.replace(_result(*in_warm, limits), warm=True)
        groups = await asyncio.to_thread(cgroups.make_groups, limits)
        try:
            if sandbox_mode() == UNSAFE:
                outcome = await _run_unsafe(files, argv, groups.command_prefix(), limits)
            else:
                with mounts.in_memory(files) as (file_fds, seccomp_fd):
                    command = mounts.bwrap_command(file_fds, seccomp_fd, limits, argv)
                    outcome = await process.run(
                        groups.command_prefix() + command,
                        {},
                        limits,
                        pass_fds=[*file_fds.values(), *([seccomp_fd] if seccomp_fd else [])],
                    )
            oom_kills = await asyncio.to_thread(groups.oom_kills)
        finally:
            for group in groups.dirs:
                await asyncio.to_thread(cgroups.remove_group, group)
    return _result(outcome, oom_kills, limits)


async def _run_unsafe(
    files: dict[str, str], argv: list[str], prefix: list[str], limits: SandboxLimits
) -> process.Outcome:
    workdir = Path(
        await asyncio.to_thread(
            tempfile.mkdtemp, prefix=f"{process.TESTDIR_PREFIX}{process.owner()}-"
        )
    )
    try:
        await asyncio.to_thread(_write_files, workdir, files)
        env = process.clean_environment(str(workdir))
        return await process.run(
            prefix + process.limits_prefix(limits) + argv, env, limits, cwd=workdir
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


def _result(outcome: process.Outcome, oom_kills: int, limits: SandboxLimits) -> SandboxResult:
    status, limit, note = outcome.status, outcome.limit, outcome.note
    returncode = outcome.returncode
    if status is None:
        status = "passed" if returncode == 0 else "failed" if returncode == 1 else "error"
    if oom_kills:
        status, limit = "error", "out of memory"
        note = (
            f"its processes together needed more than {limits.memory_bytes // MB} MB: "
            f"{oom_kills} killed"
        )
    elif status != "passed" and not limit and process.hit_disk_limit(outcome):
        status, limit = "error", "disk limit"
        note = (
            f"{limits.disk_bytes // MB} MB each for its directory, /tmp and /dev/shm, "
            f"{limits.max_file_bytes // MB} MB per file"
        )
    elif not limit and returncode is not None and returncode < 0:
        note = f"killed by signal {-returncode} (memory, CPU or process limit)"
    output = outcome.output
    if note:
        output += f"\n[{limit}: {note}]" if limit else f"\n[{note}]"
    if sandbox_mode() == UNSAFE:
        output += f"\n[isolation: {isolation_label()}]"
    return SandboxResult(
        status=status,
        output=output,
        duration=outcome.duration,
        returncode=returncode,
        isolation=isolation_label(),
        limit=limit,
    )
