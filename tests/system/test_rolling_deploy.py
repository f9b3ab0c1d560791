"""A rolling deploy with traffic: nothing is dropped, and the page rides through it.

Two daphne processes (as two machines) share a SQLite file and a Redis of the test's
own, behind a local TCP proxy that, like a platform's, sends each new connection to
a server that accepts it. Clients make requests all along (quick reads, and test
runs that take a second each); a page-like socket client follows a run streamed by
the local model server. Then, as a deploy does: SIGTERM the first server, start a new
one, SIGTERM the other. Asserted: no request went without an answer, every 503
carries Retry-After, each process exited within its grace period, and what the
socket client shows at the end equals a fresh load.
"""

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.sync.connection import Connection
from websockets.typing import Origin

from tests.support.fixtures import wait_for_requests
from tests.support.model_server import ModelServer, text
from tests.support.proxy import Proxy
from tests.support.servers import AppServer, OwnRedis, create_user_and_project

GRACE = 4.0
# Beyond the grace period: the signal's delivery, interpreter exit.
EXIT_SLACK = 1.5
CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'
ONE_SECOND_TEST = "import time\n\ntime.sleep(1)\n"
# A streamed answer of ~4 s: each server stops while a run streams.
ANSWER = " ".join(f"word{n}" for n in range(200))


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[OwnRedis]:
    own = OwnRedis(tmp_path)
    yield own
    own.kill()


@pytest.fixture
def model() -> Iterator[ModelServer]:
    server = ModelServer()
    server.start()
    server.route(lambda request: text(ANSWER, stream_delay_s=0.05))
    yield server
    server.stop()


class Load:
    """Clients making requests through the proxy until stopped; every outcome kept."""

    def __init__(self, url: str, token: str, project_id: str, session_id: str) -> None:
        self.url = url
        self.auth = {"Authorization": f"Token {token}"}
        self.reads = [f"/api/projects/{project_id}", f"/api/sessions/{session_id}/messages"]
        self.test_run = f"/api/projects/{project_id}/tests/run"
        self.statuses: list[int] = []
        self.dropped: list[str] = []
        self.without_retry_after: list[str] = []
        self.stopped = threading.Event()
        self.threads = [
            threading.Thread(target=self._reads, daemon=True),
            threading.Thread(target=self._reads, daemon=True),
            threading.Thread(target=self._test_runs, daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(30)

    def _request(self, http: httpx.Client, method: str, path: str, **kw: Any) -> None:
        try:
            response = http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.dropped.append(f"{method} {path}: {exc!r}")
            return
        self.statuses.append(response.status_code)
        if response.status_code == 503 and "retry-after" not in response.headers:
            self.without_retry_after.append(f"{method} {path}: {response.text}")

    def _client(self) -> httpx.Client:
        # A connection per request, as the platform's proxy opens to a machine.
        return httpx.Client(
            base_url=self.url,
            headers=self.auth,
            timeout=30,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def _reads(self) -> None:
        with self._client() as http:
            while not self.stopped.is_set():
                for path in self.reads:
                    self._request(http, "GET", path)
                time.sleep(0.02)

    def _test_runs(self) -> None:
        with self._client() as http:
            while not self.stopped.is_set():
                self._request(http, "POST", self.test_run, json={})


class Page:
    """What the project page keeps of a session, from its socket and its catch-up
    reads (as web/static/vibegrapher.js): stored messages, live text, run outcomes."""

    def __init__(self, proxy: Proxy, token: str, project_id: str, session_id: str) -> None:
        self.ws_url = f"ws://127.0.0.1:{proxy.port}/ws/projects/{project_id}/?token={token}"
        self.origin = Origin(proxy.url)
        self.session = f"/api/sessions/{session_id}"
        self.http = httpx.Client(
            base_url=proxy.url, headers={"Authorization": f"Token {token}"}, timeout=30
        )
        self.messages: dict[str, dict[str, Any]] = {}  # in the order shown
        self.live: dict[str, str] = {}
        self.run_state = ""
        self.deltas = 0
        self.close_codes: list[int | None] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(15)
        self.http.close()
        if self.error is not None:
            raise self.error

    def _get(self, path: str) -> Any:
        # As the page: a 503 with Retry-After is asked again (here, until answered).
        for _ in range(20):
            response = self.http.get(path)
            if response.status_code == 503 and "retry-after" in response.headers:
                time.sleep(0.2)
                continue
            assert response.status_code == 200, response.text
            return response.json()
        raise AssertionError(f"GET {path} never answered")

    def _connect(self) -> ClientConnection:
        deadline = time.monotonic() + 20
        while True:
            try:
                return connect(self.ws_url, origin=self.origin, open_timeout=5)
            except (OSError, ConnectionClosed, TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the page could not reconnect: {exc!r}") from exc
                time.sleep(0.2)

    def _follow(self) -> None:
        try:
            while not self.stopped.is_set():
                with self._connect() as socket:
                    self.catch_up()
                    self._read(socket)
        except BaseException as exc:
            self.error = exc

    def _read(self, socket: Connection) -> None:
        while not self.stopped.is_set():
            try:
                event = json.loads(socket.recv(timeout=0.2))
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                self.close_codes.append(closed.rcvd.code if closed.rcvd else None)
                return
            self.apply(event)

    def apply(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "conversation_message":
            self._add({**event, "id": event["message_id"], "run_outcome": ""})
            if event["agent"] == "user" and event["role"] == "user":
                self.messages[event["message_id"]]["run_outcome"] = "running"
                self.run_state = "running"
        elif kind == "message_delta":
            if event["message_id"] not in self.messages:
                self.live[event["message_id"]] = self.live.get(event["message_id"], "")
                self.live[event["message_id"]] += event["delta"]
                self.deltas += 1
        elif kind == "run_finished":
            if self._last_run()["run_outcome"] not in ("running", ""):
                # A run this page did not see start: the stored state says how it ended.
                self.catch_up()
                return
            outcome = event["outcome"]
            if event.get("interrupted"):
                outcome = "interrupted"
            elif outcome == "error":
                outcome = "failed"
            self._last_run()["run_outcome"] = outcome
            self.live.clear()
            self.run_state = "interrupted" if event.get("interrupted") else "idle"

    def _add(self, message: dict[str, Any]) -> None:
        if message["id"] in self.messages:
            return
        self.live.pop(message["id"], None)
        self.messages[message["id"]] = {
            "content": message["content"],
            "run_outcome": message.get("run_outcome") or "",
            "role": message["role"],
            "agent": message["agent"],
        }

    def _last_run(self) -> dict[str, Any]:
        runs = [m for m in self.messages.values() if m["role"] == "user"]
        return runs[-1]

    def catch_up(self) -> None:
        last = next(reversed(self.messages), None)
        page: str | None = f"{self.session}/messages" + (f"?after={last}" if last else "")
        while page:
            found = self._get(page)
            for message in found["results"]:
                self._add(message)
            page = found["next"]
        state = self._get(self.session)
        self.run_state = state["run_state"]
        if self.run_state != "running" and self.messages:
            # The last run's end, missed while away (vibegrapher.js refreshRun).
            runs = [key for key, m in self.messages.items() if m["role"] == "user"]
            keys = list(self.messages)
            before = keys[keys.index(runs[-1]) - 1] if keys.index(runs[-1]) else None
            stored = self._get(f"{self.session}/messages" + (f"?after={before}" if before else ""))
            for message in stored["results"]:
                if message["id"] == runs[-1]:
                    self.messages[runs[-1]]["run_outcome"] = message["run_outcome"]
            self.live.clear()

    def view(self) -> dict[str, Any]:
        return {"messages": self.messages, "live": self.live, "run_state": self.run_state}


def fresh_load(http: httpx.Client, session: str) -> dict[str, Any]:
    messages: dict[str, dict[str, Any]] = {}
    page: str | None = f"/api/sessions/{session}/messages"
    while page:
        found = http.get(page).json()
        for m in found["results"]:
            messages[m["id"]] = {
                "content": m["content"],
                "run_outcome": m["run_outcome"],
                "role": m["role"],
                "agent": m["agent"],
            }
        page = found["next"]
    state = http.get(f"/api/sessions/{session}").json()
    return {"messages": messages, "live": {}, "run_state": state["run_state"]}


def _stop(server: AppServer) -> float:
    """SIGTERM, then the seconds until the process exited."""
    assert server.process is not None
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=GRACE + 10)
    return time.monotonic() - signalled


def _stream_a_run(
    server: AppServer, token: str, session: str, page: Page, model: ModelServer
) -> None:
    """Send a message to `server` (its run is then that process's); return once its
    answer is streaming to the page."""
    asked = len(model.requests)
    deadline = time.monotonic() + 20
    while True:
        sent = httpx.post(
            f"{server.url}/api/sessions/{session}/messages",
            json={"prompt": "Talk to me"},
            headers={"Authorization": f"Token {token}"},
            timeout=30,
        )
        if sent.status_code == 202:
            break
        assert sent.status_code == 409, sent.text  # the last run is still ending
        assert time.monotonic() < deadline, sent.text
        time.sleep(0.3)
    wait_for_requests(model, asked + 1)
    seen = page.deltas
    while page.deltas < seen + 3:
        assert time.monotonic() < deadline, "no live text reached the page"
        time.sleep(0.05)


def test_rolling_deploy_drops_nothing_and_the_page_ends_as_a_fresh_load(
    tmp_path: Path, redis: OwnRedis, model: ModelServer
) -> None:
    def machine() -> AppServer:
        return AppServer(
            tmp_path,
            DATABASE_URL=f"sqlite:///{tmp_path}/shared.sqlite3",
            REDIS_URL=redis.url,
            OPENAI_BASE_URL=model.base_url,
            OPENAI_API_KEY="test-key",
            TEST_SANDBOX="unsafe-subprocess",
            SHUTDOWN_GRACE_SECONDS=str(GRACE),
            RUN_SHUTDOWN_SECONDS="1",
            RUN_HEARTBEAT_SECONDS="0.3",
            RUN_STALE_AFTER_SECONDS="3",
            MESSAGE_DELTA_INTERVAL_SECONDS="0.05",
            LOG_LEVEL="INFO",
        )

    a, b = machine(), machine()
    a.manage("migrate", "--no-input", "-v0")
    made = create_user_and_project(a, code=CODE)
    a.python(
        "from projects.models import TestCase; "
        f"TestCase.objects.create(project_id={made['project_id']!r}, name='one second', "
        f"test_code={ONE_SECOND_TEST!r}, quick_test=False); print(1)"
    )
    servers = [a.start(), b.start()]
    proxy = Proxy([a.port, b.port]).start()
    api = httpx.Client(
        base_url=proxy.url, headers={"Authorization": f"Token {made['token']}"}, timeout=30
    )
    try:
        session = api.post(f"/api/projects/{made['project_id']}/sessions", json={}).json()["id"]
        load = Load(proxy.url, made["token"], made["project_id"], session)
        page = Page(proxy, made["token"], made["project_id"], session)
        page.start()
        load.start()

        # First machine: SIGTERM while a run streams, then its replacement starts.
        _stream_a_run(a, made["token"], session, page, model)
        exits = [_stop(a)]
        c = machine()
        servers.append(c.start())
        proxy.set_backends([b.port, c.port])

        # Second machine: the same, once the first run has ended.
        _stream_a_run(b, made["token"], session, page, model)
        exits.append(_stop(b))
        proxy.set_backends([c.port])

        # The last run has ended, interrupted with b; the traffic stops.
        deadline = time.monotonic() + 20
        while api.get(f"/api/sessions/{session}").json()["run_state"] == "running":
            assert time.monotonic() < deadline, "the last run never ended"
            time.sleep(0.1)
        time.sleep(0.5)  # its last events reach the page
        load.stop()
        page.stop()
        fresh = fresh_load(api, session)
    finally:
        api.close()
        proxy.stop()
        for server in servers:
            server.stop()

    assert load.dropped == [], f"requests dropped without an answer: {load.dropped}"
    assert load.without_retry_after == []
    assert proxy.unplaced == 0
    assert len(load.statuses) > 50 and set(load.statuses) <= {200, 503}, set(load.statuses)
    for took in exits:
        assert took < GRACE + EXIT_SLACK, f"a server took {took:.1f} s to exit"
    assert 1012 in page.close_codes, page.close_codes
    assert page.view() == fresh
    outcomes = [m["run_outcome"] for m in fresh["messages"].values() if m["role"] == "user"]
    assert outcomes == ["interrupted", "interrupted"], outcomes
