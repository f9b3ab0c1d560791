"""Run model-written Python in a sandbox it cannot leave (bubblewrap on Linux).

Guarantees with bubblewrap (`TEST_SANDBOX=bwrap`, the default):
- no network: the code gets its own, empty network namespace;
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
(`sandbox_warm.py`): this same sandbox, started ahead with the SDK imported, for that
one test only.

Without bubblewrap the sandbox refuses to run and says why, unless the operator sets
`TEST_SANDBOX=unsafe-subprocess`: then the same limits and empty environment apply,
but no isolation, and every result says so.
"""

import asyncio
import contextlib
import dataclasses
import errno
import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from django.conf import settings

logger = logging.getLogger(__name__)

Status = Literal["passed", "failed", "error", "timeout"]
SANDBOX_DIR = "/sandbox"
# Output beyond this is not read at all: the test is stopped.
OUTPUT_HARD_LIMIT_FACTOR = 16
UNSAFE = "unsafe-subprocess"
MB = 1024**2
# Names of what a test leaves on the host while it runs: its cgroups and, without
# bubblewrap, its directory. They carry the owning process, so a restart can tell
# a dead process's leftovers from a live neighbour's.
CGROUP_PREFIX = "vibegrapher-"
TESTDIR_PREFIX = "vibegrapher-test-"
_OWNED_NAME = re.compile(r"^vibegrapher-(?:test-)?(\d+)\.(\d+)-")


class SandboxUnavailable(Exception):
    """The configured sandbox cannot run here; the message says how to fix it."""


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
    # Run in a warm sandbox (reviews/sandbox_warm.py) rather than one started for it.
    warm: bool = False


def sandbox_mode() -> str:
    return str(settings.TEST_SANDBOX)


def isolation_label() -> str:
    bwrap = sandbox_mode() == "bwrap"
    label = "bubblewrap" if bwrap else f"none (TEST_SANDBOX={UNSAFE})"
    if not process_limit_enforced():
        label += " (no process limit: the server is root and has no pids cgroup)"
    if not memory_budget_enforced():
        label += " (no memory budget: no memory cgroup, only a per-process limit)"
    program = _seccomp_program()
    if bwrap and isinstance(program, str):
        label += f" (no syscall filter: {program})"
    from reviews import sandbox_warm  # it builds on this module

    return label + sandbox_warm.note()


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
def _seccomp_program() -> bytes | str:
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


def syscall_filter_enforced() -> bool:
    return sandbox_mode() == "bwrap" and isinstance(_seccomp_program(), bytes)


def _memfd(name: str, content: bytes) -> int:
    """A file in memory, its offset at the start, for bwrap to copy from (--file, --seccomp)."""
    fd = os.memfd_create(name)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        os.close(fd)
        raise
    return fd


# --- Command lines --------------------------------------------------------------------


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


def _bwrap_command(
    file_fds: dict[str, int], seccomp_fd: int | None, limits: SandboxLimits, argv: list[str]
) -> list[str]:
    size = str(limits.disk_bytes)
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
        # The writable places: RAM-backed, size-limited, charged to the memory cgroup.
        "--size", size, "--perms", "1777", "--tmpfs", "/dev/shm",
        "--size", size, "--tmpfs", "/tmp",
        "--size", size, "--tmpfs", SANDBOX_DIR,
    ]  # fmt: skip
    for name, fd in file_fds.items():
        command += ["--file", str(fd), f"{SANDBOX_DIR}/{name}"]
    for root in _python_roots():
        command += ["--ro-bind", root, root]
    # /dev is bwrap's own (unlimited) tmpfs, owned by the sandbox's user: read-only.
    command += ["--remount-ro", "/", "--remount-ro", "/dev", "--chdir", SANDBOX_DIR]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    command += ["--clearenv"]
    for name, value in _clean_environment(SANDBOX_DIR).items():
        command += ["--setenv", name, value]
    return command + _limits_prefix(limits) + argv


# --- Control groups: processes and memory, per test ------------------------------------

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class _CgroupParents:
    """Where each test's cgroups are made (None: that limit cannot be had)."""

    pids: Path | None
    memory: Path | None
    v2: bool


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per v1 controller, and under "" its v2 cgroup."""
    own: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(","):
                own[controller] = path
    return own


def _under(mount: Path, path: str) -> Path:
    return mount / path.lstrip("/") if path.strip("/") else mount


@functools.cache
def _cgroup_parents() -> _CgroupParents:
    """Test cgroups go under the server's own cgroup (so they count in whatever bounds
    the server), or on cgroup v2 under the root when the server's own cannot delegate."""
    own = _own_cgroups()
    v1: dict[str, Path] = {}
    for controller in ("pids", "memory"):
        mount = CGROUP_ROOT / controller
        parent = _under(mount, own.get(controller, "/"))
        if (mount / "cgroup.procs").exists() and os.access(parent, os.W_OK):
            v1[controller] = parent
    if v1:
        return _CgroupParents(v1.get("pids"), v1.get("memory"), v2=False)
    if not (CGROUP_ROOT / "cgroup.controllers").exists():
        return _CgroupParents(None, None, v2=False)
    # The server's own cgroup, its parent (where a delegated subtree holds the server in
    # a leaf: see docker-entrypoint.sh), or the root.
    own_v2 = _under(CGROUP_ROOT, own.get("", "/"))
    for parent in dict.fromkeys([own_v2, own_v2.parent, CGROUP_ROOT]):
        if not parent.is_relative_to(CGROUP_ROOT):
            continue
        if not os.access(parent, os.W_OK):
            continue
        try:
            available = (parent / "cgroup.controllers").read_text().split()
            for controller in ("pids", "memory"):
                if controller in available:
                    # Fails (EBUSY) in a cgroup that holds processes, but for the root.
                    with contextlib.suppress(OSError):
                        (parent / "cgroup.subtree_control").write_text(f"+{controller}")
            enabled = (parent / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if enabled:
            return _CgroupParents(
                parent if "pids" in enabled else None,
                parent if "memory" in enabled else None,
                v2=True,
            )
    return _CgroupParents(None, None, v2=False)


def process_limit_enforced() -> bool:
    return os.geteuid() != 0 or _cgroup_parents().pids is not None


def memory_budget_enforced() -> bool:
    return _cgroup_parents().memory is not None


@functools.cache
def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, after the command name


def _owner() -> str:
    """This process, as named in its test cgroups and directories."""
    return f"{os.getpid()}.{_start_time(os.getpid())}"


def _owner_alive(name: str) -> bool:
    match = _OWNED_NAME.match(name)
    if match is None:
        return True  # not ours to judge
    pid, started = match.groups()
    _start_time.cache_clear()
    return _start_time(int(pid)) == started


@dataclass(frozen=True)
class _TestGroups:
    dirs: list[Path]
    memory: Path | None
    v2: bool

    def command_prefix(self) -> list[str]:
        """Join every group, then exec the command: the sandbox is born inside them."""
        if not self.dirs:
            return []
        join = 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; done'
        procs = [str(group / "cgroup.procs") for group in self.dirs]
        return ["/bin/sh", "-c", f'{join}; shift {len(procs) + 1}; exec "$@"', "sh", *procs, "--"]

    def oom_kills(self) -> int:
        if self.memory is None:
            return 0
        events = self.memory / ("memory.events" if self.v2 else "memory.oom_control")
        with contextlib.suppress(OSError, ValueError):
            for line in events.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0


def _make_groups(limits: SandboxLimits) -> _TestGroups:
    parents = _cgroup_parents()
    if parents.pids is None and parents.memory is None:
        return _TestGroups([], None, parents.v2)
    name = f"{CGROUP_PREFIX}{_owner()}-{os.urandom(6).hex()}"
    made: list[Path] = []
    try:
        for parent in dict.fromkeys(p for p in (parents.pids, parents.memory) if p):
            group = parent / name
            group.mkdir()
            made.append(group)
            if parent == parents.pids:
                (group / "pids.max").write_text(str(limits.max_processes))
            if parent == parents.memory:
                _write_memory_limit(group, limits.memory_bytes, parents.v2)
    except OSError:
        for group in made:
            _remove_group(group)
        raise
    memory = parents.memory / name if parents.memory else None
    return _TestGroups(made, memory, parents.v2)


def _write_memory_limit(group: Path, budget: int, v2: bool) -> None:
    if v2:
        (group / "memory.max").write_text(str(budget))
        swap = group / "memory.swap.max"  # absent without swap accounting
        if swap.exists():
            swap.write_text("0")
        return
    (group / "memory.limit_in_bytes").write_text(str(budget))
    swap = group / "memory.memsw.limit_in_bytes"  # memory + swap: no swap at all
    if swap.exists():
        swap.write_text(str(budget))


def _remove_group(group: Path) -> None:
    """Kill what is left in the group and remove it (sync: for threads and start-up)."""
    for _ in range(100):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            _kill_members(group)
            time.sleep(0.02)
    group.rmdir()


def _kill_members(group: Path) -> None:
    with contextlib.suppress(OSError):
        if (group / "cgroup.kill").exists():
            (group / "cgroup.kill").write_text("1")
            return
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def remove_leftovers() -> list[Path]:
    """Remove the test cgroups and directories that processes no longer alive left
    (killed, or stopped mid-test); a live process's are left alone. Returns them."""
    parents = _cgroup_parents()
    found = [
        group
        for parent in dict.fromkeys(p for p in (parents.pids, parents.memory) if p)
        for group in parent.glob(f"{CGROUP_PREFIX}*")
        if group.is_dir() and not group.name.startswith(TESTDIR_PREFIX)
    ]
    found += Path(tempfile.gettempdir()).glob(f"{TESTDIR_PREFIX}*")
    removed: list[Path] = []
    for path in found:
        if _owner_alive(path.name):
            continue
        try:
            if path.is_relative_to(CGROUP_ROOT):
                _remove_group(path)
            else:
                shutil.rmtree(path)
        except OSError as exc:
            logger.warning("leftover %s of a dead test run cannot be removed: %s", path, exc)
            continue
        removed.append(path)
    return removed


# --- Running ---------------------------------------------------------------------------

_slots: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]]" = (
    weakref.WeakKeyDictionary()
)


def _slot() -> asyncio.Semaphore:
    """The server-wide bound on sandboxes alive at once (per event loop, i.e. process)."""
    per_loop = _slots.setdefault(asyncio.get_running_loop(), {})
    concurrency = max(1, int(settings.TEST_SANDBOX_CONCURRENCY))
    return per_loop.setdefault(concurrency, asyncio.Semaphore(concurrency))


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


@contextlib.contextmanager
def _in_memory(files: dict[str, str]) -> Iterator[tuple[dict[str, int], int | None]]:
    """The files and the syscall filter as memfds for bwrap, closed afterwards."""
    fds: dict[str, int] = {}
    seccomp_fd: int | None = None
    try:
        for name, content in files.items():
            fds[name] = _memfd(name, content.encode())
        program = _seccomp_program()
        if isinstance(program, bytes):
            seccomp_fd = _memfd("seccomp", program)
        yield fds, seccomp_fd
    finally:
        for fd in [*fds.values(), seccomp_fd]:
            if fd is not None:
                os.close(fd)


async def run_test(
    files: dict[str, str],
    entrypoint: str,
    limits: SandboxLimits,
    on_start: Callable[[], Awaitable[None]] | None = None,
) -> SandboxResult:
    """Run `python <entrypoint>` in a sandbox holding `files`.

    Waits for one of the server's sandbox slots first; `on_start` is awaited once the
    test has one (it is "running" from then on).
    """
    check_sandbox()
    _check_names(files, entrypoint)
    argv = [_python(), entrypoint]
    from reviews import sandbox_warm  # it builds on this module

    async with _slot():
        if on_start is not None:
            await on_start()
        warm = await sandbox_warm.run(files, entrypoint, limits)
        if warm is not None:
            return dataclasses.replace(_result(*warm, limits), warm=True)
        groups = await asyncio.to_thread(_make_groups, limits)
        try:
            if sandbox_mode() == UNSAFE:
                outcome = await _run_unsafe(files, argv, groups.command_prefix(), limits)
            else:
                with _in_memory(files) as (file_fds, seccomp_fd):
                    command = _bwrap_command(file_fds, seccomp_fd, limits, argv)
                    outcome = await _run(
                        groups.command_prefix() + command,
                        {},
                        limits,
                        pass_fds=[*file_fds.values(), *([seccomp_fd] if seccomp_fd else [])],
                    )
            oom_kills = await asyncio.to_thread(groups.oom_kills)
        finally:
            for group in groups.dirs:
                await asyncio.to_thread(_remove_group, group)
    return _result(outcome, oom_kills, limits)


async def _run_unsafe(
    files: dict[str, str], argv: list[str], prefix: list[str], limits: SandboxLimits
) -> "_Outcome":
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=f"{TESTDIR_PREFIX}{_owner()}-"))
    try:
        await asyncio.to_thread(_write_files, workdir, files)
        env = _clean_environment(str(workdir))
        return await _run(prefix + _limits_prefix(limits) + argv, env, limits, cwd=workdir)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


@dataclass(frozen=True)
class _Outcome:
    status: Status | None  # None: decided by the exit code
    limit: str
    note: str
    returncode: int | None
    output: str
    duration: float


async def _run(
    command: list[str],
    env: dict[str, str],
    limits: SandboxLimits,
    **popen_options: Any,
) -> _Outcome:
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
    return _Outcome(
        verdict, limit, note, process.returncode, output, round(time.monotonic() - started, 3)
    )


# What a process sees when the disk budget (ENOSPC) or the file size limit (EFBIG) stops it.
_DISK_FULL = (os.strerror(errno.ENOSPC), os.strerror(errno.EFBIG))


def _hit_disk_limit(outcome: _Outcome) -> bool:
    if outcome.returncode == -signal.SIGXFSZ:
        return True
    return any(text in outcome.output for text in _DISK_FULL)


def _result(outcome: _Outcome, oom_kills: int, limits: SandboxLimits) -> SandboxResult:
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
    elif status != "passed" and not limit and _hit_disk_limit(outcome):
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
