"""What the periodic check of open WebSockets' credentials costs one server process.

Starts one daphne (SQLite, or a scratch PostgreSQL database with `--postgres`), opens
N sockets (half by `?token=`, half by session cookie, spread over users as a real
site's would be), keeps them open for `--seconds`, and prints:

- the check's time as the server measured it (its debug log: the thread hop, the
  connection and the batched queries), median / p90 / max over every check;
- the query time alone (`accounts.credentials.ended` on the same credentials, in a
  separate process, `--repeat` times);
- the daphne process's CPU time over the idle period with the check every
  `WS_CREDENTIAL_CHECK_SECONDS` (1), against the same period with the check set to
  once an hour: what the check adds.

Usage: .venv/bin/python bench/ws_credential_check.py [--sockets 200] [--seconds 30]
       [--conn-max-age 60] [--postgres]   (BENCH_POSTGRES=user@host:port, default
       postgres@127.0.0.1:5432: a database is created there and dropped afterwards)
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import websockets
from websockets.typing import Origin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import AppServer  # noqa: E402

PER_USER = 10  # under WS_MAX_SOCKETS_PER_USER (20)

MAKE = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from accounts.tokens import create_token
from projects.services import create_project
password = make_password("bench-password-1")  # hashed once, shared: setup speed only
sockets = []
for n in range({users}):
    user = User.objects.create(username=f"bench{{n}}", password=password)
    project = str(create_project(user, f"Bench {{n}}", "x = 1\\n").id)
    for k in range({per_user}):
        if k % 2:
            sockets.append({{"project": project, "token": create_token(user)}})
        else:
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            sockets.append({{"project": project, "cookie": session.session_key}})
print(json.dumps(sockets))
"""

QUERY_TIME = """
import json, time
from django.contrib.sessions.models import Session
from accounts.credentials import SocketCredential, ended
from accounts.models import ApiToken
from django.contrib.auth.models import User
passwords = dict(User.objects.values_list("id", "password"))
credentials = [SocketCredential(user_id=u, token_id=t) for t, u in
               ApiToken.objects.values_list("id", "user_id")]
for session in Session.objects.all():
    user_id = int(session.get_decoded()["_auth_user_id"])
    credentials.append(SocketCredential(user_id=user_id, session_key=session.session_key,
                                        password=passwords[user_id]))
assert ended(credentials) == {{}}
times = []
for _ in range({repeat}):
    started = time.perf_counter()
    ended(credentials)
    times.append(time.perf_counter() - started)
print(json.dumps({{"credentials": len(credentials), "times": times}}))
"""

CHECK_LINE = re.compile(r"ws credential check: (\d+) sockets, \d+ credentials, ([\d.]+) ms")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def hold_open(server: AppServer, sockets: list[dict[str, str]], seconds: float) -> float:
    """Open every socket, keep them open `seconds`; the server's CPU seconds meanwhile."""
    async with contextlib.AsyncExitStack() as stack:
        for socket in sockets:  # one at a time: 2 cores also run the server
            query = f"?token={socket['token']}" if "token" in socket else ""
            headers = {"Cookie": f"sessionid={socket['cookie']}"} if "cookie" in socket else None
            ws = await stack.enter_async_context(
                websockets.connect(
                    f"ws://127.0.0.1:{server.port}/ws/projects/{socket['project']}/{query}",
                    origin=Origin(f"http://127.0.0.1:{server.port}"),
                    additional_headers=headers,
                )
            )
            await ws.send('{"type": "ping"}')
            assert json.loads(await ws.recv()) == {"type": "pong"}, "refused"
        await asyncio.sleep(2)  # connections settled
        assert server.process is not None
        before = cpu_seconds(server.process.pid)
        await asyncio.sleep(seconds)
        return cpu_seconds(server.process.pid) - before


@contextlib.contextmanager
def database(postgres: bool, workdir: Path) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{workdir / 'db.sqlite3'}"
        return
    import psycopg  # a database of its own, dropped afterwards

    server = os.environ.get("BENCH_POSTGRES", "postgres@127.0.0.1:5432")
    name = f"vg_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"postgres://{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgres://{server}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args: argparse.Namespace, interval: str, workdir: Path, url: str) -> tuple[float, str]:
    env = {
        "DATABASE_URL": url,
        "WS_CREDENTIAL_CHECK_SECONDS": interval,
        "WS_HEARTBEAT_SECONDS": "3600",  # nothing else on a timer
        "CONN_MAX_AGE": str(args.conn_max_age),
        "LOG_LEVEL": "DEBUG",
    }
    with AppServer(workdir, **env) as server:
        sockets = server.python(MAKE.format(users=args.sockets // PER_USER, per_user=PER_USER))
        server.start()
        used = asyncio.run(hold_open(server, sockets, args.seconds))
        server.stop()
        return used, server.log.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--conn-max-age", type=int, default=60)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, float] = {}
    for interval in ("1", "3600"):
        with tempfile.TemporaryDirectory() as tmp, database(args.postgres, Path(tmp)) as url:
            workdir = Path(tmp)
            AppServer(workdir, DATABASE_URL=url).manage("migrate", "--no-input", "-v0")
            used, log = run(args, interval, workdir, url)
            results[interval] = used
            if interval == "1":
                checks = [
                    float(ms) for count, ms in CHECK_LINE.findall(log) if int(count) == args.sockets
                ]
                query = AppServer(workdir, DATABASE_URL=url).python(
                    QUERY_TIME.format(repeat=args.repeat)
                )
    kind = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{args.sockets} open sockets ({kind}, CONN_MAX_AGE={args.conn_max_age}):")
    quantiles = statistics.quantiles(checks, n=10)
    print(
        f"  check as the server timed it, {len(checks)} checks: median "
        f"{statistics.median(checks):.1f} ms, p90 {quantiles[8]:.1f} ms, max {max(checks):.1f} ms"
    )
    times = [t * 1e3 for t in query["times"]]
    print(
        f"  queries alone (ended() on {query['credentials']} credentials, {len(times)} times): "
        f"median {statistics.median(times):.2f} ms, max {max(times):.2f} ms"
    )
    extra = results["1"] - results["3600"]
    print(
        f"  daphne CPU over {args.seconds:.0f} s idle: {results['1']:.2f} s checking every "
        f"1 s, {results['3600']:.2f} s hourly: the check adds {extra / args.seconds * 100:.1f} % "
        "of a core"
    )


if __name__ == "__main__":
    main()
