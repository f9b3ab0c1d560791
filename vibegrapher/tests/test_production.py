"""A production-like run: the container's steps against the local PostgreSQL and Redis.

Production settings (DEBUG off, SECRET_KEY, HSTS, SSL redirect behind a proxy that
sets X-Forwarded-Proto), `migrate`, `collectstatic`, daphne, SDK memory in the
database; then the main flow over HTTP and WebSocket with the local model server.
Skipped outside CI when PostgreSQL or Redis is missing; under CI=true that fails.
"""

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from websockets.sync.client import connect
from websockets.typing import Origin

from agents_app.patching import unified_diff
from tests.support.fixtures import scratch_postgres
from tests.support.model_server import ModelServer, custom_tool_call, text
from tests.support.servers import AppServer, create_user_and_project

CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'
NEW_CODE = CODE.replace("Help.", "Help kindly.")
# What Fly's proxy adds in front of every request it forwards over plain HTTP.
PROXY = {"X-Forwarded-Proto": "https"}


@pytest.fixture
def database() -> Iterator[str]:
    with scratch_postgres("vibegrapher_prod") as url:
        yield url


@pytest.fixture
def production(database: str, redis_url: str, tmp_path: Path) -> Iterator[AppServer]:
    model = ModelServer()
    model.start()
    patch = unified_diff(CODE, NEW_CODE, "workflow.py")
    model.script(
        custom_tool_call("submit_patch", "Kinder bot\n" + patch),
        text(json.dumps({"approved": True, "reasoning": "Kinder, as asked.",
                         "commit_message": "feat: kinder bot"})),
    )  # fmt: skip
    server = AppServer(
        tmp_path,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CSRF_TRUSTED_ORIGINS="https://127.0.0.1",
        DATABASE_URL=database,
        REDIS_URL=redis_url,
        MEDIA_ROOT=str(tmp_path / "data" / "media"),
        STATIC_ROOT=str(tmp_path / "static"),
        AGENT_MEMORY="database",
        GIT_STORAGE="database",
        OPENAI_BASE_URL=model.base_url,
        OPENAI_API_KEY="production-test",
        LOG_LEVEL="INFO",
    )
    try:
        # The container's steps: collectstatic at build, migrate on release, daphne.
        server.manage("collectstatic", "--no-input", "-v0")
        server.manage("migrate", "--no-input", "-v0")
        server.start()
        yield server
    finally:
        server.stop()
        model.stop()


def test_main_flow_under_production_settings(production: AppServer) -> None:
    server = production
    made = create_user_and_project(server, project="Prod Bot", code=CODE)
    auth = {"Authorization": f"Token {made['token']}", **PROXY}
    ws_url = f"ws://127.0.0.1:{server.port}/ws/projects/{made['project_id']}/?token={made['token']}"

    with httpx.Client(base_url=server.url, timeout=15) as http:
        health = http.get("/health")
        assert health.status_code == 200 and health.json()["database"] == "ok"
        # Plain HTTP without the proxy's header is sent to HTTPS; with it, HSTS is set.
        assert http.get("/api/projects").status_code == 301
        listed = http.get("/api/projects", headers=auth)
        assert listed.status_code == 200
        assert "max-age=31536000" in listed.headers["Strict-Transport-Security"]
        assert http.get("/static/vibegrapher.css", headers=PROXY).status_code == 200

        with connect(
            ws_url, origin=Origin(f"http://127.0.0.1:{server.port}"), open_timeout=10
        ) as socket:
            session = http.post(
                f"/api/projects/{made['project_id']}/sessions", json={}, headers=auth
            ).json()
            sent = http.post(
                f"/api/sessions/{session['id']}/messages",
                json={"prompt": "Make the bot kinder"},
                headers=auth,
            )
            assert sent.status_code == 202, sent.text
            events: list[dict[str, Any]] = []
            while not events or events[-1]["type"] != "run_finished":
                event = json.loads(socket.recv(timeout=30))
                if event["type"] != "heartbeat":
                    events.append(event)

        finished = events[-1]
        assert finished["outcome"] == "diff", finished
        assert [e["type"] for e in events].count("token_usage") == 2
        diff_url = f"/api/diffs/{finished['diff_id']}"
        approved = http.post(f"{diff_url}/review", json={"approved": True}, headers=auth)
        assert approved.status_code == 200, approved.text
        committed = http.post(f"{diff_url}/commit", json={}, headers=auth)
        assert committed.status_code == 200, committed.text

        project = http.get(f"/api/projects/{made['project_id']}", headers=auth).json()
        commits = http.get(f"/api/projects/{made['project_id']}/commits", headers=auth).json()[
            "results"
        ]
        assert project["current_code"] == NEW_CODE
        assert project["current_commit"] == committed.json()["committed_sha"]
        assert [c["message"] for c in commits] == ["feat: kinder bot", "Initial agent code"]
        assert http.get("/health").status_code == 200

    # The SDK's memory went to PostgreSQL, not to a file beside the repository.
    with psycopg.connect(server.env["DATABASE_URL"]) as db:
        rows = db.execute("SELECT count(*) FROM agent_messages").fetchone()
    assert rows is not None and rows[0] >= 2
    assert not list((Path(server.env["MEDIA_ROOT"]) / "projects").glob("*.db"))
    # Logs: one line per event (a traceback would span several).
    log_lines = server.log.read_text().splitlines()
    assert log_lines and not any(line.startswith((" ", "Traceback")) for line in log_lines)
