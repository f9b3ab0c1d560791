"""Serve the app with N daphne processes on one port.

    python -m vibegrapher.server.serve --processes N [-b HOST] [-p PORT] [daphne options…] APP

One process (the default, `WEB_PROCESSES`) is exactly `daphne …`. With more, this
parent binds one listening socket per child, all on the same port with SO_REUSEPORT,
and starts N daphne children, each accepting on its own socket: the kernel spreads
new connections evenly over them, so HTTP, WebSockets and runs use every core. (On
one shared socket, whichever child woke first took a whole burst of connections:
twisted accepts up to a hundred at a time, so one process did most of the work.)
The spread is by address, not by load: a child whose loop stalls keeps its share of
new connections. Every child must see the same events and counters: more than one
process needs `REDIS_URL` (the channel layer and the cache) and refuses to start
without it.

The soft limit of open files is raised first (children inherit it): containers often
start with 1,024, and sockets, repositories and kept SQLite memories all hold some.

The parent forwards SIGTERM/SIGINT to the children and waits for them. If a child
dies, the parent stops the others and exits with its status, so the platform
restarts the whole server (start-up then marks the dead process's runs interrupted).

daphne's own `--fd` option builds an endpoint string twisted cannot parse, so the
children adopt the socket through twisted's `systemd:` endpoint (LISTEN_FDS).
"""

import argparse
import ctypes
import functools
import os
import resource
import signal
import socket
import subprocess
import sys
from types import FrameType

# The first descriptor systemd's protocol passes: children find the socket here.
LISTEN_FD = 3
# The soft limit of open files the server raises itself to (see the module's docstring).
OPEN_FILES = 65536
# prctl(2): the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def _child(argv: list[str]) -> None:
    """In a child: adopt the inherited socket, then run daphne's own command line."""
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_FDNAMES"] = "http"
    os.environ["LISTEN_PID"] = str(os.getpid())  # read when twisted's endpoints load
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(["-e", "systemd:domain=INET:index=0", *argv])


def _listeners(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening sockets on one port (port 0: the first one's free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listeners: list[socket.socket] = []
    for _ in range(count):
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind((host, listeners[0].getsockname()[1] if listeners else port))
        listener.listen(1024)
        listener.setblocking(False)
        listeners.append(listener)
    return listeners


def _prepare_child(fd: int, parent: int) -> None:
    """In a child, before exec: its listening socket where the systemd protocol puts it,
    and a SIGTERM (a graceful stop) when the parent dies, even by SIGKILL: a child
    left behind would hold the port and its runs with nobody to restart or stop it."""
    os.dup2(fd, LISTEN_FD)
    os.set_inheritable(LISTEN_FD, True)
    if not sys.platform.startswith("linux"):  # prctl is Linux's
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _raise_open_files_limit() -> None:
    """Raise the soft limit of open files to OPEN_FILES (or the hard limit, if lower)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=int(os.environ.get("WEB_PROCESSES", "1")))
    parser.add_argument("-b", "--bind", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=8000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args, daphne_args = parser.parse_known_args()
    if args.child:
        _child(daphne_args)
        return
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    _raise_open_files_limit()
    if args.processes == 1:
        os.execv(
            sys.executable,
            [sys.executable, "-m", "daphne", "-b", args.bind, "-p", str(args.port), *daphne_args],
        )
    if not os.environ.get("REDIS_URL"):
        parser.error(
            "more than one process needs REDIS_URL: events and counters must reach every process"
        )
    listeners = _listeners(args.bind.strip("[]"), args.port, args.processes)
    # close_fds=False: fd 3 is placed after subprocess picks the descriptors to keep;
    # Python's own descriptors are not inheritable, so nothing else leaks.
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "vibegrapher.server.serve", "--child", *daphne_args],
            close_fds=False,
            preexec_fn=functools.partial(_prepare_child, listener.fileno(), os.getpid()),
            # Signals reach the children once, from this parent: a terminal's Ctrl-C
            # sent to the whole group as well would be daphne's "second signal, stop
            # at once" and cut the runs' graceful end (vibegrapher/server/shutdown.py).
            start_new_session=True,
        )
        for listener in listeners
    ]
    for listener in listeners:
        listener.close()
    stopping = False

    def stop(signum: int, _frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while any(child.poll() is None for child in children):
        pid, wait_status = os.wait()
        code = os.waitstatus_to_exitcode(wait_status)
        for child in children:
            if child.pid == pid:
                child.returncode = code
        if not stopping:
            print(
                f"vibegrapher.server.serve: process {pid} exited ({code}); stopping",
                file=sys.stderr,
            )
            status = code or 1
            stop(signal.SIGTERM)
    sys.exit(status)


if __name__ == "__main__":
    main()
