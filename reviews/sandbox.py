"""Run model-written Python in a sandbox it cannot leave (bubblewrap on Linux).

Guarantees with bubblewrap (`TEST_SANDBOX=bwrap`, the default):
- no network: the code gets its own, empty network namespace;
- its own PID, IPC and UTS namespaces, and a user namespace where it is `nobody`;
- a read-only file system holding only the OS's /usr, the Python interpreter and
  the virtualenv; the test's temporary directory is the one writable place
  (plus a small private /tmp); the project, media, database and home directories
  are absent (but for the interpreter's own directory, when it lives in one);
- an empty environment except PATH/HOME/locale: no OPENAI_API_KEY, SECRET_KEY or
  DATABASE_URL (bubblewrap itself is started with an empty environment too);
- limits: wall time (quick 5 s, full 30 s), 512 MB of address space, 64 processes,
  16 MB per written file, CPU seconds, and the output kept (its tail) and capped.
  A root server bounds processes with a pids cgroup (the kernel exempts root from
  RLIMIT_NPROC); without one, the results say there is no process limit.

Without bubblewrap the sandbox refuses to run and says why, unless the operator sets
`TEST_SANDBOX=unsafe-subprocess`: then the same limits and empty environment apply,
but no isolation, and every result says so.
"""

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from django.conf import settings

Status = Literal["passed", "failed", "error", "timeout"]
SANDBOX_DIR = "/sandbox"
# Output beyond this is not read at all: the test is stopped.
OUTPUT_HARD_LIMIT_FACTOR = 16
UNSAFE = "unsafe-subprocess"


class SandboxUnavailable(Exception):
    """The configured sandbox cannot run here; the message says how to fix it."""


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float
    memory_bytes: int = 512 * 1024**2
    max_processes: int = 64
    max_output_bytes: int = 64 * 1024
    max_file_bytes: int = 16 * 1024**2


QUICK_LIMITS = SandboxLimits(wall_seconds=5)
FULL_LIMITS = SandboxLimits(wall_seconds=30)


@dataclass(frozen=True)
class SandboxResult:
    status: Status
    output: str
    duration: float
    returncode: int | None
    isolation: str


def sandbox_mode() -> str:
    return str(settings.TEST_SANDBOX)


def isolation_label() -> str:
    label = "bubblewrap" if sandbox_mode() == "bwrap" else f"none (TEST_SANDBOX={UNSAFE})"
    if not process_limit_enforced():
        label += " (no process limit: the server is root and has no pids cgroup)"
    return label


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
    problem = _probe(bwrap)
    if problem:
        raise SandboxUnavailable(
            f"bubblewrap cannot create its namespaces here ({problem}); allow user "
            f"namespaces, or set TEST_SANDBOX={UNSAFE} to run tests without isolation."
        )


# The namespaces and the system directories of every sandbox, the probe's included.
_BWRAP_BASE = [
    "--unshare-all",  # network, PID, IPC, UTS, cgroup namespaces
    "--unshare-user",
    "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/bin", "/bin",
    "--symlink", "usr/lib", "/lib",
    "--symlink", "usr/lib64", "/lib64",
    "--symlink", "usr/sbin", "/sbin",
]  # fmt: skip


@functools.cache
def _probe(bwrap: str) -> str:
    done = subprocess.run(
        [bwrap, *_BWRAP_BASE, "/usr/bin/true"],
        env={},
        capture_output=True,
        text=True,
        timeout=10,
    )  # fmt: skip
    return "" if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


def _python_roots() -> list[str]:
    """What the interpreter and the installed packages need, read-only."""
    roots = {
        str(Path(sys.base_prefix).resolve()),
        str(Path(sys.prefix).resolve()),
        str(Path(sys.prefix)),
        str(Path(sys.executable).resolve().parent.parent),
    }
    return sorted(r for r in roots if not r.startswith("/usr"))


def _limits_prefix(limits: SandboxLimits) -> list[str]:
    return [
        "/usr/bin/prlimit",
        f"--as={limits.memory_bytes}",
        f"--nproc={limits.max_processes}",
        f"--fsize={limits.max_file_bytes}",
        f"--cpu={int(limits.wall_seconds) + 1}",
        "--core=0",
        "--",
    ]


def _clean_environment(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONUNBUFFERED": "1",
        "OPENAI_AGENTS_DISABLE_TRACING": "1",
    }


def _bwrap_command(workdir: Path, limits: SandboxLimits, argv: list[str]) -> list[str]:
    command = [
        shutil.which("bwrap") or "bwrap",
        *_BWRAP_BASE,
        "--uid", "65534",
        "--gid", "65534",
        "--die-with-parent",
        "--new-session",
        "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
        "--ro-bind-try", "/etc/localtime", "/etc/localtime",
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", str(limits.max_file_bytes * 4),
        "--tmpfs", "/tmp",
    ]  # fmt: skip
    for root in _python_roots():
        command += ["--ro-bind", root, root]
    command += ["--bind", str(workdir), SANDBOX_DIR, "--remount-ro", "/", "--chdir", SANDBOX_DIR]
    command += ["--clearenv"]
    for name, value in _clean_environment(SANDBOX_DIR).items():
        command += ["--setenv", name, value]
    return command + _limits_prefix(limits) + argv


@functools.cache
def _pids_cgroup_parent() -> Path | None:
    """Where a root server can make a pids cgroup (v1 or v2), if anywhere."""
    v1 = Path("/sys/fs/cgroup/pids")
    v2 = Path("/sys/fs/cgroup")
    try:
        if (v1 / "cgroup.procs").exists() and os.access(v1, os.W_OK):
            return v1
        if "pids" in (v2 / "cgroup.controllers").read_text().split() and os.access(v2, os.W_OK):
            with contextlib.suppress(OSError):
                (v2 / "cgroup.subtree_control").write_text("+pids")
            return v2
    except OSError:
        pass
    return None


@contextlib.asynccontextmanager
async def _process_limit(limits: SandboxLimits) -> AsyncIterator[list[str]]:
    """Bound the number of processes; yields the command prefix that does it.

    The kernel never applies RLIMIT_NPROC to root's processes (and the sandbox's
    `nobody` is root outside its user namespace when the server is root), so a
    root server puts each test in its own pids cgroup instead.
    """
    parent = _pids_cgroup_parent() if os.geteuid() == 0 else None
    if parent is None:
        yield []
        return
    group = parent / f"vibegrapher-{os.urandom(8).hex()}"
    try:
        await asyncio.to_thread(_make_pids_group, group, limits.max_processes)
    except OSError:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(group.rmdir)
        yield []
        return
    try:
        yield ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group / "cgroup.procs")]
    finally:
        # Killed processes leave the group a moment after their parent is reaped.
        for _ in range(100):
            try:
                await asyncio.to_thread(group.rmdir)
                break
            except OSError:
                await asyncio.sleep(0.05)


def _make_pids_group(group: Path, max_processes: int) -> None:
    group.mkdir()
    (group / "pids.max").write_text(str(max_processes))


def process_limit_enforced() -> bool:
    return os.geteuid() != 0 or _pids_cgroup_parent() is not None


def _python() -> str:
    return sys.executable


def _write_files(workdir: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"{name!r} is not a plain file name.")
        (workdir / name).write_text(content)
    workdir.chmod(0o777)  # writable by the sandbox's nobody


async def run_test(files: dict[str, str], entrypoint: str, limits: SandboxLimits) -> SandboxResult:
    """Write `files` to a fresh directory and run `python <entrypoint>` in the sandbox."""
    check_sandbox()
    if entrypoint not in files:
        raise ValueError(f"{entrypoint!r} is not one of the files.")
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="vibegrapher-test-"))
    try:
        await asyncio.to_thread(_write_files, workdir, files)
        argv = [_python(), entrypoint]
        async with _process_limit(limits) as prefix:
            if sandbox_mode() == UNSAFE:
                env = _clean_environment(str(workdir))
                command = prefix + _limits_prefix(limits) + argv
                return await _run(command, env, limits, cwd=workdir)
            return await _run(prefix + _bwrap_command(workdir, limits, argv), {}, limits)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def _run(
    command: list[str],
    env: dict[str, str],
    limits: SandboxLimits,
    **popen_options: Any,
) -> SandboxResult:
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        **popen_options,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own process group, killed as a whole
    )
    assert process.stdout is not None
    tail = bytearray()
    seen = 0
    verdict: Status | None = None
    note = ""
    try:
        async with asyncio.timeout(limits.wall_seconds):
            while chunk := await process.stdout.read(65536):
                seen += len(chunk)
                tail += chunk
                del tail[: max(0, len(tail) - limits.max_output_bytes)]
                if seen > limits.max_output_bytes * OUTPUT_HARD_LIMIT_FACTOR:
                    verdict, note = "error", f"output limit: stopped after {seen} bytes"
                    break
            if verdict is None:
                await process.wait()
    except TimeoutError:
        verdict, note = "timeout", f"time limit: stopped after {limits.wall_seconds:g} s"
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        # asyncio's wait() returns only once the pipe is closed too; killing bwrap
        # ends its PID namespace, so the rest of the output reaches EOF promptly.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while await process.stdout.read(65536):
                    pass
        await process.wait()
    returncode = process.returncode
    if verdict is None:
        verdict = "passed" if returncode == 0 else "failed" if returncode == 1 else "error"
        if returncode is not None and returncode < 0:
            note = f"killed by signal {-returncode} (memory, CPU or process limit)"
    output = tail.decode(errors="replace")
    if seen > len(tail):
        output = f"[... {seen - len(tail)} earlier bytes not kept ...]\n" + output
    if note:
        output += f"\n[{note}]"
    if sandbox_mode() == UNSAFE:
        output += f"\n[isolation: {isolation_label()}]"
    return SandboxResult(
        status=verdict,
        output=output,
        duration=round(time.monotonic() - started, 3),
        returncode=returncode,
        isolation=isolation_label(),
    )
