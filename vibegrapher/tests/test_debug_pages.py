"""Debug pages (DEBUG on) never show a secret: not a setting's, not one inside a URL."""

import os
import subprocess
import sys

import pytest
from django.test import Client, RequestFactory
from django.views.debug import ExceptionReporter

from tests.support.servers import ROOT
from vibegrapher.debug_filter import SecretHidingReporterFilter

PASSWORD = "hunter2-redis-secret"
DB_PASSWORD = "pg-secret-77"
REDIS_URL = f"redis://:{PASSWORD}@redis.internal:6379/0"
DATABASE_URL = f"postgres://vibe:{DB_PASSWORD}@db.internal:5432/vibe"


@pytest.fixture
def secret_settings(settings):
    settings.DEBUG = True
    settings.REDIS_URL = REDIS_URL
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": REDIS_URL,
        }
    }
    settings.SOME_SERVICE = {"hosts": [REDIS_URL], "dsn": DATABASE_URL}
    return settings


def test_the_setting_is_installed(settings) -> None:
    assert settings.DEFAULT_EXCEPTION_REPORTER_FILTER == (
        "vibegrapher.debug_filter.SecretHidingReporterFilter"
    )


def test_a_foreign_host_page_shows_settings_without_passwords(secret_settings) -> None:
    # DisallowedHost with DEBUG on is Django's technical page, settings included.
    response = Client(raise_request_exception=False).get("/", HTTP_HOST="attacker.example")
    page = response.content.decode()

    assert response.status_code == 400
    assert "REDIS_URL" in page and "redis.internal" in page
    assert PASSWORD not in page and DB_PASSWORD not in page


def test_a_500_page_hides_passwords_in_urls_everywhere(secret_settings, rf: RequestFactory):
    database_url = DATABASE_URL  # a local variable shown in the traceback
    request = rf.get("/api/projects", HTTP_REFERER=REDIS_URL)
    try:
        raise RuntimeError(f"cannot reach {database_url.split('@')[1]}")
    except RuntimeError:
        page = ExceptionReporter(request, *sys.exc_info()).get_traceback_html()

    assert "database_url" in page and "db.internal" in page
    assert PASSWORD not in page and DB_PASSWORD not in page
    assert "vibe:********************@db.internal" in page


def test_url_passwords_are_replaced_and_the_rest_kept() -> None:
    hide = SecretHidingReporterFilter().hide_url_passwords

    assert hide(REDIS_URL) == "redis://:********************@redis.internal:6379/0"
    assert hide({"a": [DATABASE_URL, ("x", 1)]}) == {
        "a": ["postgres://vibe:********************@db.internal:5432/vibe", ("x", 1)]
    }
    assert hide("https://example.com/a:b@c") == "https://example.com/a:b@c"
    assert hide("redis://redis.internal:6379/0") == "redis://redis.internal:6379/0"


@pytest.mark.parametrize(
    ("host", "address"), [(None, "127.0.0.1:8000"), ("0.0.0.0", "0.0.0.0:8000")]
)
def test_make_run_listens_on_this_machine_unless_host_is_set(host, address) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("HOST", "PORT")}
    if host:
        env["HOST"] = host
    # -n prints the commands without running them.
    dry = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )

    assert f"manage.py runserver --nostatic {address}" in dry.stdout
