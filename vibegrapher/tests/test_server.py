"""Black box: the real server (daphne) on a free port, driven over HTTP."""

import uuid

import httpx
import redis

from tests.support.servers import AppServer


def test_seeded_server_serves_the_api_over_http() -> None:
    with AppServer(DEMO_PASSWORD="demo-pass-4821") as server:
        server.manage("migrate", "--no-input", "-v0")
        seeded = server.manage("seed")
        assert "demo / (DEMO_PASSWORD)" in seeded
        server.start()
        with httpx.Client(base_url=server.url, timeout=10) as http:
            health = http.get("/health").json()
            assert health == {
                "status": "ok",
                "database": "ok",
                "channel_layer": "ok",
                "version": health["version"],
            }
            assert http.get("/api/projects").status_code == 401
            token = http.post(
                "/api/auth/token", json={"username": "demo", "password": "demo-pass-4821"}
            ).json()["token"]
            auth = {"Authorization": f"Token {token}"}

            listed = http.get("/api/projects", headers=auth).json()["results"]
            assert [p["name"] for p in listed] == ["Agent Triage System"]
            created = http.post("/api/projects", json={"name": "Black Box"}, headers=auth)
            assert created.status_code == 201
            commits = http.get(f"/api/projects/{created.json()['id']}/commits", headers=auth)
            assert [c["message"] for c in commits.json()["results"]] == ["Initial agent code"]
            assert http.get("/media/projects/black-box/HEAD").status_code == 404


def test_health_reports_an_unreachable_database() -> None:
    with AppServer(DATABASE_URL="postgres://nobody@127.0.0.1:9/none") as server:
        server.start(healthy=False)
        response = httpx.get(f"{server.url}/health", timeout=10)

    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert response.json()["channel_layer"] == "ok"


def test_health_leaves_no_channel_subscribed_on_redis_pubsub(redis_url: str) -> None:
    """Each probe makes a channel; the pub/sub layer would keep every one subscribed."""
    prefix = f"health-{uuid.uuid4().hex[:8]}-"
    with AppServer(REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix) as server:
        server.manage("migrate", "--no-input", "-v0")
        server.start()
        with httpx.Client(base_url=server.url, timeout=10) as http:
            answers = [http.get("/health").json()["channel_layer"] for _ in range(5)]
        client = redis.Redis.from_url(redis_url)
        try:
            subscribed = client.pubsub_channels(f"{prefix}*")
        finally:
            client.close()

    assert answers == ["ok"] * 5
    assert subscribed == []
