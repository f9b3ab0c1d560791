"""Warm, single-use sandboxes: tests that import a workflow start in milliseconds.

A test that imports the Agents SDK spends most of its time importing it in a fresh
interpreter. This keeps a few sandboxes started ahead of need, each exactly what a
cold run would be (the same bubblewrap command, namespaces, tmpfs, seccomp filter,
memory and pids cgroups, prlimits, empty environment) but whose interpreter
(`warm_boot.py`) has already imported agents, pydantic and openai and waits
on stdin for its one job. A job takes one, sends its files and entrypoint, and the
interpreter runs the entrypoint as `python <entrypoint>` would; then that sandbox and
its cgroups are destroyed, never reused, so nothing a test leaves can reach another.

- The pool holds `TEST_SANDBOX_WARM` sandboxes (0: none); it grows only while a quarter
  of the host's available memory holds another; a background thread refills
  it, blocked in `select` when there is nothing to do (no CPU when idle).
- Only jobs whose files import a preloaded package take one (a trivial test starts
  cold in tens of milliseconds; a warm sandbox costs a full import to replace). When
  none is ready but one is starting, such a job waits for it (it is ahead of a cold
  start); with none at all it starts cold, as before.
- A job still takes one of the `TEST_SANDBOX_CONCURRENCY` slots; the waiting
  sandboxes are extra, at most `TEST_SANDBOX_WARM` of them.
- The job's wall-time limit starts when it is handed over; its CPU limit is counted
  from then (the interpreter lowers its own RLIMIT_CPU). The interpreter's resident
  memory (the imports) is in the job's cgroup: it counts in the job's memory budget.
- The cgroups are named like a cold run's, after this process, so `remove_leftovers()`
  removes a dead server's waiting sandboxes; bubblewrap's `--die-with-parent` ends
  their processes with the thread that started them (it lives as long as the process).
- A pool needs bubblewrap and a memory cgroup to charge the imports to; without them
  `note()` says so on every result's isolation label and every test starts cold.
"""

import asyncio
import atexit
import contextlib
import dataclasses
import json
import logging
import os
import re
import selectors
import signal
import struct
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from testruns import sandbox
from testruns.sandbox import cgroups, mounts, process
from testruns.sandbox.cgroups import TestGroups
from testruns.sandbox.process import Outcome, SandboxLimits
from testruns.sandbox.warm_boot import READY

logger = logging.getLogger(__name__)

# Run as `python -c <its source>` in the sandbox, where nothing of the project is.
BOOT_SCRIPT = Path(__file__).with_name("warm_boot.py")
# What a waiting sandbox keeps resident (its interpreter with the SDK imported), rounded
# up: the pool is never larger than a quarter of the available memory holds.
WAITING_SANDBOX_BYTES = 128 * 1024**2
# A sandbox not ready in this long is killed (the imports take ~2 s of CPU).
READY_TIMEOUT_SECONDS = 60.0
# After a sandbox failed to start, the pool waits this long before trying again.
RETRY_AFTER_SECONDS = 30.0
# The CPU limit while importing; each job lowers it to its own from its start.
WARMUP_CPU_SECONDS = 120
# A job whose files import one of these gains from a warm sandbox.
_PRELOADED = r"\b(?:agents|openai|pydantic)\b"
_PRELOADED_IMPORT = re.compile(
    rf"^[ \t]*(?:from[ \t]+{_PRELOADED}|import[ \t]+[^#\n]*{_PRELOADED})", re.MULTILINE
)


@dataclass(frozen=True)
class _Key:
    """What a warm sandbox was started with; a job with other limits starts cold."""

    memory_bytes: int
    disk_bytes: int
    max_processes: int
    max_file_bytes: int

    @classmethod
    def of(cls, limits: SandboxLimits) -> "_Key":
        return cls(
            limits.memory_bytes, limits.disk_bytes, limits.max_processes, limits.max_file_bytes
        )

    def limits(self) -> SandboxLimits:
        return SandboxLimits(
            wall_seconds=WARMUP_CPU_SECONDS - 1,  # sets prlimit's --cpu only
            memory_bytes=self.memory_bytes,
            disk_bytes=self.disk_bytes,
            max_processes=self.max_processes,
            max_file_bytes=self.max_file_bytes,
        )


@dataclass
class _Warm:
    process: "subprocess.Popen[bytes]"
    groups: TestGroups
    key: _Key
    deadline: float
    seen: bytearray = dataclasses.field(default_factory=bytearray)


def wanted(files: dict[str, str]) -> bool:
    """Whether this job gains from a warm sandbox: it imports what one has preloaded."""
    return any(_PRELOADED_IMPORT.search(text) for text in files.values())


def unavailable() -> str:
    """Why this host keeps no pool ("" when it can, or when none is configured)."""
    if int(settings.TEST_SANDBOX_WARM) <= 0:
        return ""
    if sandbox.sandbox_mode() != "bwrap":
        return "they need bubblewrap"
    if not cgroups.memory_budget_enforced():
        return "no memory cgroup to charge their imports to"
    return ""


def note() -> str:
    """What the isolation label adds when the configured pool cannot be kept here."""
    reason = unavailable()
    return f" (no warm sandboxes: {reason})" if reason else ""


def _target() -> tuple[int, _Key]:
    """How many warm sandboxes to keep now, and with which limits."""
    key = _Key.of(process.limits_for(quick=True))
    if int(settings.TEST_SANDBOX_WARM) <= 0 or unavailable():
        return 0, key
    try:
        sandbox.check_sandbox()
    except sandbox.SandboxUnavailable:
        return 0, key
    return int(settings.TEST_SANDBOX_WARM), key


def _to_start(target: int, held: int) -> int:
    """How many sandboxes to start now: the missing ones, as far as a quarter of the
    available memory holds them. Only growth is bounded: the memory of those already
    held is not available, so counting it would shrink a full pool and refill it."""
    return max(0, min(target - held, _memory_allows()))


def _memory_allows() -> int:
    """How many waiting sandboxes a quarter of the host's available memory holds: each
    keeps its interpreter's imports resident while it waits."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 4 // WAITING_SANDBOX_BYTES
    except OSError:
        pass
    return 0


def _spawn(key: _Key) -> _Warm:
    """Start one sandbox like a cold run's, its interpreter running the boot script."""
    limits = key.limits()
    groups = cgroups.make_groups(limits)
    argv = [sandbox._python(), "-c", BOOT_SCRIPT.read_text()]
    try:
        with mounts.in_memory({}) as (_, seccomp_fd):
            command = mounts.bwrap_command({}, seccomp_fd, limits, argv)
            process = subprocess.Popen(
                groups.command_prefix() + command,
                env={},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=[seccomp_fd] if seccomp_fd is not None else [],
                start_new_session=True,  # its own process group, killed as a whole
            )
    except BaseException:
        for group in groups.dirs:
            cgroups.remove_group(group)
        raise
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    return _Warm(process, groups, key, time.monotonic() + READY_TIMEOUT_SECONDS)


def _destroy(warm: _Warm) -> None:
    """Kill the sandbox (if still alive) and remove its cgroups (sync)."""
    if warm.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(warm.process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        warm.process.wait(timeout=5)
    for stream in (warm.process.stdin, warm.process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    for group in warm.groups.dirs:
        try:
            cgroups.remove_group(group)
        except OSError as exc:
            logger.warning("warm sandbox cgroup %s cannot be removed: %s", group, exc)


class Pool:
    """The warm sandboxes of this process, and the thread that keeps them filled."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._ready: list[_Warm] = []
        self._warming: dict[int, _Warm] = {}  # by stdout fd
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._retry_at = 0.0
        self._stopping = False
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        # The sandboxes die with the thread that started them (--die-with-parent):
        # it lives as long as the process.
        self._thread = threading.Thread(target=self._serve, name="warm-sandboxes", daemon=True)
        self._thread.start()

    # --- Jobs' side (event loops) -------------------------------------------------

    def poke(self) -> None:
        """Make the thread look at the pool again (settings changed, one was taken)."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_write, b"x")

    def waiting_pids(self) -> set[int]:
        """The bubblewrap processes of the sandboxes not running a job (ready or starting)."""
        with self._lock:
            return {warm.process.pid for warm in [*self._ready, *self._warming.values()]}

    def counts(self) -> tuple[int, int]:
        """(ready, starting) sandboxes."""
        with self._lock:
            return len(self._ready), len(self._warming)

    def _take_ready(self, key: _Key) -> _Warm | None:
        dead: list[_Warm] = []
        taken = None
        with self._lock:
            while self._ready:
                warm = self._ready.pop(0)
                if warm.key == key and warm.process.poll() is None:
                    taken = warm
                    break
                dead.append(warm)
        for warm in dead:
            _destroy(warm)
        return taken

    def _starting(self, key: _Key) -> bool:
        with self._lock:
            return any(warm.key == key for warm in self._warming.values())

    async def take(self, key: _Key) -> _Warm | None:
        """A ready sandbox, or one starting now once it is ready; None: start cold."""
        loop = asyncio.get_running_loop()
        while True:
            warm = self._take_ready(key)
            self.poke()  # refill behind this job (after the take, or it may look too early)
            if warm is not None or not self._starting(key):
                return warm
            waiter: asyncio.Future[None] = loop.create_future()
            with self._lock:
                self._waiters.append((loop, waiter))
            try:
                await waiter
            finally:
                with self._lock, contextlib.suppress(ValueError):
                    self._waiters.remove((loop, waiter))

    def _wake_waiters(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # its loop is closed
                loop.call_soon_threadsafe(_settle, waiter)

    def stop(self) -> None:
        """Kill every sandbox of the pool and end its thread (at exit, in tests)."""
        self._stopping = True
        self.poke()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self.drain()
        self._wake_waiters()

    def drain(self) -> None:
        """Kill the ready sandboxes (the thread starts new ones if still wanted)."""
        with self._lock:
            ready, self._ready = self._ready, []
        for warm in ready:
            _destroy(warm)

    # --- The thread -----------------------------------------------------------------

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wake_read, selectors.EVENT_READ)
        try:
            while not self._stopping:
                try:
                    deferred = self._adjust(selector)
                except Exception:  # the pool stays: the next try is after a pause
                    logger.exception("a warm sandbox cannot be started")
                    self._retry_at = time.monotonic() + RETRY_AFTER_SECONDS
                    deferred = True
                timeout = self._timeout(deferred)
                for selected, _ in selector.select(timeout):
                    if selected.fd == self._wake_read:
                        with contextlib.suppress(BlockingIOError):
                            os.read(self._wake_read, 4096)
                    else:
                        self._read_warming(selector, selected.fd)
                self._expire(selector)
        except Exception:
            logger.exception("the warm sandbox pool stopped")
        finally:
            with self._lock:
                warming, self._warming = list(self._warming.values()), {}
            for warm in warming:
                with contextlib.suppress(KeyError, ValueError):
                    selector.unregister(warm.process.stdout)  # type: ignore[arg-type]
                _destroy(warm)
            selector.close()
            self._wake_waiters()

    def _timeout(self, deferred: bool) -> float | None:
        """Until the next deadline or the retry of a deferred start; None (block until
        poked) when nothing is pending."""
        moments = [warm.deadline for warm in self._warming.values()]
        if deferred:
            moments.append(self._retry_at)
        if not moments:
            return None
        return max(0.0, min(moments) - time.monotonic())

    def _adjust(self, selector: selectors.BaseSelector) -> bool:
        """Retire sandboxes of stale limits; start the ones missing. True: some are
        missing but wait for the retry after a failure."""
        target, key = _target()
        with self._lock:
            keep = [warm for warm in self._ready if warm.key == key][:target]
            retire = [warm for warm in self._ready if warm not in keep]
            self._ready = keep
            missing = _to_start(target, len(keep) + len(self._warming))
        for warm in retire:
            _destroy(warm)
        if missing <= 0:
            return False
        if time.monotonic() < self._retry_at:
            return True
        for _ in range(missing):
            try:
                warm = _spawn(key)
            except OSError as exc:
                logger.warning("a warm sandbox cannot be started: %s", exc)
                self._retry_at = time.monotonic() + RETRY_AFTER_SECONDS
                return True
            assert warm.process.stdout is not None
            with self._lock:
                self._warming[warm.process.stdout.fileno()] = warm
            selector.register(warm.process.stdout, selectors.EVENT_READ)
        return False

    def _read_warming(self, selector: selectors.BaseSelector, fd: int) -> None:
        warm = self._warming.get(fd)
        if warm is None:
            return
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        warm.seen += chunk
        if READY in warm.seen:
            selector.unregister(fd)
            # What came after the marker (nothing, normally) is the job's output.
            warm.seen = bytearray(warm.seen.split(READY, 1)[1])
            with self._lock:
                del self._warming[fd]
                self._ready.append(warm)
            self._wake_waiters()
        elif not chunk:  # it ended before it was ready
            selector.unregister(fd)
            with self._lock:
                del self._warming[fd]
            output = warm.seen.decode(errors="replace")[-2000:]
            logger.warning("a warm sandbox ended while starting: %s", output)
            _destroy(warm)
            self._retry_at = time.monotonic() + RETRY_AFTER_SECONDS
            self._wake_waiters()
        else:
            del warm.seen[: max(0, len(warm.seen) - 65536)]

    def _expire(self, selector: selectors.BaseSelector) -> None:
        now = time.monotonic()
        with self._lock:
            late = [(fd, w) for fd, w in self._warming.items() if w.deadline <= now]
            for fd, _ in late:
                del self._warming[fd]
        for fd, warm in late:
            selector.unregister(fd)
            logger.warning("a warm sandbox was not ready in %g s", READY_TIMEOUT_SECONDS)
            _destroy(warm)
            self._retry_at = now + RETRY_AFTER_SECONDS
        if late:
            self._wake_waiters()


def _settle(waiter: "asyncio.Future[None]") -> None:
    if not waiter.done():
        waiter.set_result(None)


_pool: Pool | None = None
_pool_lock = threading.Lock()


def pool() -> Pool:
    """This process's pool, started on first use (a forked child starts its own)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = Pool()
            atexit.register(_pool.stop)  # its sandboxes and their cgroups, at exit
        return _pool


def start() -> None:
    """Fill the pool now (at server start), so that the first test finds it warm."""
    if _target()[0] > 0:
        pool().poke()


def waiting_pids() -> set[int]:
    """The bubblewrap processes of this process's sandboxes waiting for a job."""
    current = _pool
    return current.waiting_pids() if current is not None and current.pid == os.getpid() else set()


def stop() -> None:
    """Kill this process's warm sandboxes and end the pool's thread (a later job or
    `start()` makes a new pool)."""
    global _pool
    with _pool_lock:
        stopping, _pool = _pool, None
    if stopping is not None and stopping.pid == os.getpid():
        stopping.stop()


# --- Running a job in a warm sandbox ----------------------------------------------------


async def run(
    files: dict[str, str], entrypoint: str, limits: SandboxLimits
) -> tuple[Outcome, int] | None:
    """The job's outcome and OOM kills in a warm sandbox; None when it should start cold
    (it gains nothing from one, or none is ready or starting)."""
    if _target()[0] <= 0:
        if _pool is not None and _pool.pid == os.getpid():
            _pool.poke()  # switched off or no longer possible: it empties itself
        return None
    if not wanted(files):
        return None
    warm = await pool().take(_Key.of(limits))
    if warm is None:
        return None
    try:
        outcome = await _run_job(warm, files, entrypoint, limits)
        oom_kills = await asyncio.to_thread(warm.groups.oom_kills)
    finally:
        await asyncio.to_thread(_destroy, warm)
    return outcome, oom_kills


def _send(warm: _Warm, message: bytes) -> None:
    stdin = warm.process.stdin
    assert stdin is not None
    try:
        stdin.write(message)
        stdin.close()
    except BrokenPipeError:
        pass  # it died: its output and exit status say how


async def _run_job(
    warm: _Warm, files: dict[str, str], entrypoint: str, limits: SandboxLimits
) -> Outcome:
    """Hand the job over and read its output under the limits, as process.run does."""
    payload = json.dumps(
        {"files": files, "entrypoint": entrypoint, "cpu_seconds": int(limits.wall_seconds) + 1}
    ).encode()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    assert warm.process.stdout is not None
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), warm.process.stdout
    )
    started = time.monotonic()  # the job's time runs from its hand-over
    tail = bytearray(warm.seen)
    seen = len(tail)
    verdict: process.Status | None = None
    limit = note = ""
    try:
        async with asyncio.timeout(limits.wall_seconds):
            await asyncio.to_thread(_send, warm, struct.pack(">I", len(payload)) + payload)
            while chunk := await reader.read(65536):
                seen += len(chunk)
                tail += chunk
                del tail[: max(0, len(tail) - limits.max_output_bytes)]
                if seen > limits.max_output_bytes * process.OUTPUT_HARD_LIMIT_FACTOR:
                    verdict, limit = "error", "output limit"
                    note = f"stopped after {seen} bytes"
                    break
            if verdict is None:
                await asyncio.to_thread(warm.process.wait)
    except TimeoutError:
        verdict, limit = "timeout", "time limit"
        note = f"stopped after {limits.wall_seconds:g} s"
    finally:
        if warm.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(warm.process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while await reader.read(65536):
                    pass
        transport.close()
        await asyncio.to_thread(warm.process.wait)
    output = tail.decode(errors="replace")
    if seen > len(tail):
        output = f"[... {seen - len(tail)} earlier bytes not kept ...]\n" + output
    return Outcome(
        verdict, limit, note, warm.process.returncode, output, round(time.monotonic() - started, 3)
    )
