"""Namespaces and mounts: the bubblewrap command line of a sandbox.

Every namespace unshared, the user `nobody`; read-only /usr, the interpreter and the
virtualenv; RAM-backed, size-limited tmpfs for the test's directory, /tmp and
/dev/shm; the test's files and the syscall filter passed as memfds (nothing of the
test is written on the host's disk); an empty environment but for PATH/HOME/locale.
"""

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from testruns.sandbox import process
from testruns.sandbox.process import SandboxLimits

SANDBOX_DIR = "/sandbox"
# Where every sandbox sees this server process's model proxy directory (read-only): a
# trial run reaches the model only through the Unix socket there, with the capability
# its own job was given (`trials.proxy`); a test holds none and is refused.
PROXY_DIR = "/run/vibegrapher"

# The namespaces and the system directories of every sandbox, the probe's included.
BWRAP_BASE = [
    "--unshare-all",  # network, PID, IPC, UTS, cgroup namespaces
    "--unshare-user",
    "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/bin", "/bin",
    "--symlink", "usr/lib", "/lib",
    "--symlink", "usr/lib64", "/lib64",
    "--symlink", "usr/sbin", "/sbin",
]  # fmt: skip


@functools.cache
def probe(bwrap: str) -> str:
    """Why bubblewrap cannot make its namespaces here, or "" when it can."""
    done = subprocess.run(
        [bwrap, *BWRAP_BASE, "/usr/bin/true"],
        env={},
        capture_output=True,
        text=True,
        timeout=10,
    )  # fmt: skip
    return "" if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


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


@contextlib.contextmanager
def in_memory(files: dict[str, str]) -> Iterator[tuple[dict[str, int], int | None]]:
    """The files and the syscall filter as memfds for bwrap, closed afterwards."""
    fds: dict[str, int] = {}
    seccomp_fd: int | None = None
    try:
        for name, content in files.items():
            fds[name] = _memfd(name, content.encode())
        program = process.seccomp_program()
        if isinstance(program, bytes):
            seccomp_fd = _memfd("seccomp", program)
        yield fds, seccomp_fd
    finally:
        for fd in [*fds.values(), seccomp_fd]:
            if fd is not None:
                os.close(fd)


def _python_roots() -> list[str]:
    """What the interpreter and the installed packages need, read-only."""
    roots = {
        str(Path(sys.base_prefix).resolve()),
        str(Path(sys.prefix).resolve()),
        str(Path(sys.prefix)),
        str(Path(sys.executable).resolve().parent.parent),
    }
    return sorted(r for r in roots if not r.startswith("/usr"))


def proxy_dir() -> Path:
    """This process's model proxy directory on the host, made on first use. Named like
    a test's directory (after this process), so a dead server's is removed at the next
    start (`remove_leftovers`)."""
    path = Path(tempfile.gettempdir()) / f"{process.TESTDIR_PREFIX}{process.owner()}-proxy"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def bwrap_command(
    file_fds: dict[str, int], seccomp_fd: int | None, limits: SandboxLimits, argv: list[str]
) -> list[str]:
    size = str(limits.disk_bytes)
    command = [
        shutil.which("bwrap") or "bwrap",
        *BWRAP_BASE,
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
    command += ["--ro-bind", str(proxy_dir()), PROXY_DIR]
    # /dev is bwrap's own (unlimited) tmpfs, owned by the sandbox's user: read-only.
    command += ["--remount-ro", "/", "--remount-ro", "/dev", "--chdir", SANDBOX_DIR]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    command += ["--clearenv"]
    for name, value in process.clean_environment(SANDBOX_DIR).items():
        command += ["--setenv", name, value]
    return command + process.limits_prefix(limits) + argv
