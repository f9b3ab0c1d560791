"""The sandboxed process: its limits (rlimits through prlimit, wall time, output), its
empty environment, its syscall filter, and running it with its output capped.

Also how this server process names what a test leaves on the host (its cgroups and,
without bubblewrap, its directory), so that a restart can tell a dead process's
leftovers from a live neighbour's.
"""

import asyncio
import contextlib
import errno
import functools
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from django.conf import settings

Status = Literal["passed", "failed", "error", "timeout"]
# Output beyond this is not read at all: the test is stopped.
OUTPUT_HARD_LIMIT_FACTOR = 16
MB = 1024**2
# Names of what a test leaves on the host while it runs: its cgroups
# (`cgroups.CGROUP_PREFIX`) and, without bubblewrap, its directory. They carry the
# owning process, so a restart can tell a dead process's leftovers from a live
# neighbour's.
TESTDIR_PREFIX = "vibegrapher-test-"
_OWNED_NAME = re.compile(r"^vibegrapher-(?:test-)?(\d+)\.(\d+)-")


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float
    # All the test's processes and its tmpfs files together; also each process's
    # address space (RLIMIT_AS), the only memory limit where no cgroup can be had.
    memory_bytes: int = 512 * MB
    # Each writable tmpfs: the test's directory, /tmp and /dev/shm.
    disk_bytes: int = 32 * MB
    max_processes: int = 64
    max_output_bytes: int = 64 * 1024
    max_file_bytes: int = 16 * MB


def limits_for(*, quick: bool) -> SandboxLimits:
    """The limits of a quick (5 s) or full (30 s) test, with the configured budgets."""
    return SandboxLimits(
        wall_seconds=5 if quick else 30,
        memory_bytes=settings.TEST_MEMORY_MB * MB,
        disk_bytes=settings.TEST_DISK_MB * MB,
    )


# --- Owners of what a test leaves on the host ------------------------------------------


@functools.cache
def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, after the command name


def owner() -> str:
    """This process, as named in its test cgroups and directories."""
    return f"{os.getpid()}.{_start_time(os.getpid())}"


def owner_alive(name: str) -> bool:
    match = _OWNED_NAME.match(name)
    if match is None:
        return True  # not ours to judge
    pid, started = match.groups()
    _start_time.cache_clear()
    return _start_time(int(pid)) == started


# --- Syscall filter -----------------------------------------------------------------

# Never needed by a test, and each one a way out or a kernel attack surface.
REFUSED_SYSCALLS = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "open_tree", "move_mount", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
    "ptrace", "process_vm_readv", "process_vm_writev",
    "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "name_to_handle_at",
)  # fmt: skip
# clone(2)'s namespace flags (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
# NEWNET, NEWTIME); os.CLONE_NEW* only exist from Python 3.12.
_CLONE_NAMESPACE_FLAGS = (
    0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
    0x00000080,
)  # fmt: skip


@functools.cache
def seccomp_program() -> bytes | str:
    """The compiled BPF filter for bwrap's --seccomp, or why there is none."""
    try:
        import pyseccomp as seccomp  # needs libseccomp.so.2 (Debian libseccomp2)
    except (ImportError, RuntimeError, OSError) as exc:
        return f"libseccomp cannot be loaded ({exc})"
    try:
        refuse = seccomp.ERRNO(errno.EPERM)
        program = seccomp.SyscallFilter(seccomp.ALLOW)
        for name in REFUSED_SYSCALLS:
            with contextlib.suppress(ValueError):  # not a syscall on this architecture
                program.add_rule(refuse, name)
        for flag in _CLONE_NAMESPACE_FLAGS:
            program.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
        # clone3 passes its flags in memory a filter cannot read; ENOSYS makes the C
        # library fall back to clone, whose flags it can.
        program.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        fd = os.memfd_create("vibegrapher-seccomp")
        with open(fd, "w+b") as exported:
            program.export_bpf(exported)
            exported.seek(0)
            return exported.read()
    except OSError as exc:
        return f"the filter cannot be built ({exc})"


# --- The command's limits and environment -----------------------------------------------


def limits_prefix(limits: SandboxLimits) -> list[str]:
    return [
        "/usr/bin/prlimit",
        f"--as={limits.memory_bytes}",
        f"--nproc={limits.max_processes}",
        f"--fsize={limits.max_file_bytes}",
        f"--cpu={int(limits.wall_seconds) + 1}",
        "--core=0",
        "--",
    ]


def clean_environment(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONUNBUFFERED": "1",
        "OPENAI_AGENTS_DISABLE_TRACING": "1",
    }


# --- Running ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: Status | None  # None: decided by the exit code
    limit: str
    note: str
    returncode: int | None
    output: str
    duration: float


async def run(
    command: list[str],
    env: dict[str, str],
    limits: SandboxLimits,
    **popen_options: Any,
) -> Outcome:
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
    limit = note = ""
    try:
        async with asyncio.timeout(limits.wall_seconds):
            while chunk := await process.stdout.read(65536):
                seen += len(chunk)
                tail += chunk
                del tail[: max(0, len(tail) - limits.max_output_bytes)]
                if seen > limits.max_output_bytes * OUTPUT_HARD_LIMIT_FACTOR:
                    verdict, limit = "error", "output limit"
                    note = f"stopped after {seen} bytes"
                    break
            if verdict is None:
                await process.wait()
    except TimeoutError:
        verdict, limit = "timeout", "time limit"
        note = f"stopped after {limits.wall_seconds:g} s"
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
    output = tail.decode(errors="replace")
    if seen > len(tail):
        output = f"[... {seen - len(tail)} earlier bytes not kept ...]\n" + output
    return Outcome(
        verdict, limit, note, process.returncode, output, round(time.monotonic() - started, 3)
    )


# What a process sees when the disk budget (ENOSPC) or the file size limit (EFBIG) stops it.
_DISK_FULL = (os.strerror(errno.ENOSPC), os.strerror(errno.EFBIG))


def hit_disk_limit(outcome: Outcome) -> bool:
    if outcome.returncode == -signal.SIGXFSZ:
        return True
    return any(text in outcome.output for text in _DISK_FULL)
