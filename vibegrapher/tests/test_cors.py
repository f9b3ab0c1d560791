"""CORS for a single-page app served elsewhere (a dev server on localhost:5173)."""

import json
import os
import subprocess
import sys

import pytest
from django.test import Client

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


@pytest.mark.django_db
def test_an_allowed_dev_server_gets_its_preflight(client: Client, settings) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["http://localhost:5173"]

    allowed = client.options(
        "/api/projects", headers={"Origin": "http://localhost:5173", **PREFLIGHT}
    )
    refused = client.options(
        "/api/projects", headers={"Origin": "http://localhost:3000", **PREFLIGHT}
    )

    assert allowed["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "authorization" in allowed["Access-Control-Allow-Headers"]
    assert "X-CORS-Refused" not in allowed
    assert "Access-Control-Allow-Origin" not in refused
    # The refusal says what to set, in the answer the browser's network panel shows.
    assert "CORS_ALLOWED_ORIGINS=http://localhost:3000" in refused["X-CORS-Refused"]


def allowed_with(env: dict[str, str]) -> list[str]:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.CORS_ALLOWED_ORIGINS))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CORS_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "vibegrapher.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_origins_come_from_the_environment() -> None:
    dev = "http://localhost:5173"

    assert allowed_with({"CORS_ALLOWED_ORIGINS": f"{dev},https://app.example"}) == [
        dev,
        "https://app.example",
    ]
    assert allowed_with({"CORS_ORIGINS": dev}) == [dev]  # the older name still works
