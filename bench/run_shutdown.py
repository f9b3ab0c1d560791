"""How long a SIGTERM takes with runs in progress, and what browsers see.

Starts the local model server (holding every answer) and a real daphne on a
temporary SQLite database, starts N runs in N projects, connects one WebSocket per
project, sends SIGTERM, and prints: the time until every socket got `run_finished`,
the time until the process exited, and the sessions' states afterwards.

Usage: .venv/bin/python bench/run_shutdown.py [--runs 10]
"""

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.model_server import ModelServer, RecordedRequest, Step, text  # noqa: E402
from tests.support.servers import AppServer, create_user_and_project  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    release = threading.Event()

    def held(request: RecordedRequest) -> Step:
        release.wait(120)
        return text("too late")

    model = ModelServer()
    model.start()
    model.route(held)
    server = AppServer(OPENAI_BASE_URL=model.base_url, OPENAI_API_KEY="bench")
    try:
        server.manage("migrate", "--no-input", "-v0")
        made = [
            create_user_and_project(server, username=f"u{i}", project=f"P{i}")
            for i in range(args.runs)
        ]
        server.start()
        sockets: list[ClientConnection] = []
        sessions: list[str] = []
        for m in made:
            http = httpx.Client(
                base_url=server.url, headers={"Authorization": f"Token {m['token']}"}
            )
            path = f"/ws/projects/{m['project_id']}/?token={m['token']}"
            sockets.append(
                connect(f"ws://127.0.0.1:{server.port}{path}", origin=Origin(server.url))
            )
            session = http.post(f"/api/projects/{m['project_id']}/sessions", json={}).json()
            sessions.append(session["id"])
            assert (
                http.post(
                    f"/api/sessions/{session['id']}/messages", json={"prompt": "hi"}
                ).status_code
                == 202
            )
        while len(model.requests) < args.runs:
            time.sleep(0.05)

        assert server.process is not None
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        last_event = 0.0
        received = 0
        for socket in sockets:
            try:
                while json.loads(socket.recv(timeout=15))["type"] != "run_finished":
                    pass
                received += 1
                last_event = time.monotonic() - signalled
            except Exception:
                pass
        server.process.wait(timeout=30)
        exited = time.monotonic() - signalled
        states = server.python(
            "import json; from sessions_app.models import VibecodeSession as S; "
            "print(json.dumps(sorted(S.objects.values_list('run_state', flat=True))))"
        )
        print(f"runs in progress at SIGTERM      {args.runs}")
        print(f"sockets that got run_finished    {received}/{args.runs}")
        print(f"SIGTERM -> last run_finished     {last_event * 1000:.0f} ms")
        print(f"SIGTERM -> process exited        {exited * 1000:.0f} ms")
        print(f"session states after             {', '.join(sorted(set(states)))}")
    finally:
        release.set()
        server.stop()
        model.stop()


if __name__ == "__main__":
    main()
