"""The interpreter of a warm sandbox: imports what a workflow needs, then runs one job.

Run inside the sandbox as `python -c <this file's source>` (nothing of the project is
mounted there). It imports the Agents SDK, pydantic and the openai client, says it is
ready on stdout, then waits on stdin for its one job: a 4-byte big-endian length, then
that many bytes of JSON `{"files": {name: text}, "entrypoint": name, "cpu_seconds": n}`.
It writes the files into its directory and runs the entrypoint as `__main__` the way
`python <entrypoint>` would (same argv, path, `__file__`, traceback and exit status),
with stdin at /dev/null. It is never given a second job: the sandbox ends with it.
Standard library only (and stdlib-only before the imports), as it must not import the
project.
"""

import atexit
import contextlib
import gc
import json
import os
import resource
import struct
import sys
import threading
import types
from importlib.machinery import SourceFileLoader

# Written once the imports are done; the server drops whatever came before it.
READY = b"\0vibegrapher-warm-ready\0\n"
WORKDIR = "/sandbox"
PRELOADED = ("agents", "pydantic", "openai")


def _preload() -> None:
    import importlib

    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a job importing it sees the error as a cold run would
            print(f"warm sandbox: {name} not preloaded: {exc!r}", file=sys.stderr)


def _read_exactly(count: int) -> bytes:
    chunks = []
    while count:
        chunk = os.read(0, min(count, 1 << 20))
        if not chunk:
            os._exit(0)  # the server retired this sandbox without a job
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _job() -> dict[str, object]:
    (length,) = struct.unpack(">I", _read_exactly(4))
    job: dict[str, object] = json.loads(_read_exactly(length))
    # A cold run's stdin is /dev/null: so is this one's, once the job is read.
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return job


def _limit_cpu(seconds: int) -> None:
    """The job's CPU seconds from now: what the imports used is not charged to it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent = int(usage.ru_utime + usage.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    limit = spent + seconds
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (limit, limit))


def _run(entrypoint: str) -> None:
    """`python <entrypoint>` in this interpreter, as __main__."""
    path = os.path.join(WORKDIR, entrypoint)
    main = types.ModuleType("__main__")
    main.__dict__.update(
        __file__=path,
        __cached__=None,
        __loader__=SourceFileLoader("__main__", path),
        __builtins__=__builtins__,
    )
    sys.modules["__main__"] = main
    sys.argv[:] = [entrypoint]
    sys.path[0] = WORKDIR  # `python -c` put "" there; a script's directory goes first
    try:
        with open(path, "rb") as source:
            code = compile(source.read(), path, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    except SystemExit as exc:
        _exit(_exit_status(exc))
    except BaseException as exc:
        # The traceback starts at the test's own frame, as a cold run's does (none for
        # a syntax error: the interpreter shows just the line).
        traceback = exc.__traceback__.tb_next if exc.__traceback__ else None
        sys.excepthook(type(exc), exc.with_traceback(traceback), traceback)
        _exit(1)
    _exit(0)


def _exit_status(exc: SystemExit) -> int:
    """The exit status the interpreter gives an uncaught SystemExit."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _exit(status: int) -> None:
    """End as the interpreter does (threads joined, atexit run, output flushed) but
    without tearing down the preloaded modules' objects, which takes most of a second
    and nothing of the job can see: the sandbox is destroyed with this process."""
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # what Py_Finalize calls
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status & 0xFF)


def main() -> None:
    _preload()
    # The imports live as long as the process: the job's collections need not scan them.
    gc.collect()
    gc.freeze()
    sys.stderr.flush()
    os.write(1, READY)
    job = _job()
    files = job["files"]
    entrypoint = job["entrypoint"]
    assert isinstance(files, dict) and isinstance(entrypoint, str)
    _limit_cpu(int(job["cpu_seconds"]))  # type: ignore[call-overload]
    for name, text in files.items():
        with open(os.path.join(WORKDIR, name), "wb") as out:
            out.write(text.encode())
        os.chmod(os.path.join(WORKDIR, name), 0o666)
    _run(entrypoint)


if __name__ == "__main__":
    main()
