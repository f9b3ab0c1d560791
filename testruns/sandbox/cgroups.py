"""Control groups: one per test, bounding its processes (pids) and all their memory
and tmpfs files together (memory), on cgroup v1 or v2.

Test cgroups go under the server's own cgroup where it can delegate, else (v2) its
parent or the root; where none can be made, the limit is not enforced and
`process_limit_enforced()` / `memory_budget_enforced()` say so.
"""

import contextlib
import functools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from testruns.sandbox import process
from testruns.sandbox.process import SandboxLimits

CGROUP_ROOT = Path("/sys/fs/cgroup")
# The name of every test cgroup: the owning process follows (`process.owner()`).
CGROUP_PREFIX = "vibegrapher-"


@dataclass(frozen=True)
class CgroupParents:
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
def cgroup_parents() -> CgroupParents:
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
        return CgroupParents(v1.get("pids"), v1.get("memory"), v2=False)
    if not (CGROUP_ROOT / "cgroup.controllers").exists():
        return CgroupParents(None, None, v2=False)
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
            return CgroupParents(
                parent if "pids" in enabled else None,
                parent if "memory" in enabled else None,
                v2=True,
            )
    return CgroupParents(None, None, v2=False)


def process_limit_enforced() -> bool:
    return os.geteuid() != 0 or cgroup_parents().pids is not None


def memory_budget_enforced() -> bool:
    return cgroup_parents().memory is not None


@dataclass(frozen=True)
class TestGroups:
    __test__ = False

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


def make_groups(limits: SandboxLimits) -> TestGroups:
    parents = cgroup_parents()
    if parents.pids is None and parents.memory is None:
        return TestGroups([], None, parents.v2)
    name = f"{CGROUP_PREFIX}{process.owner()}-{os.urandom(6).hex()}"
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
            remove_group(group)
        raise
    memory = parents.memory / name if parents.memory else None
    return TestGroups(made, memory, parents.v2)


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


def remove_group(group: Path) -> None:
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
