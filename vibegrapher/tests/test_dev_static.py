"""With DEBUG on (`make run`), static files go out compressed with cache validators, as
production serves them: the editor bundle is not sent whole on every review page."""

import gzip
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings
from django.contrib.staticfiles import finders
from django.test import Client

from tests.support.servers import START_TIMEOUT_SECONDS, free_port

# Found as the static files app finds it (it lives in an app's static/ folder).
BUNDLE = Path(str(finders.find("vendor/codemirror/codemirror.min.js")))
URL = "/static/vendor/codemirror/codemirror.min.js"


@pytest.fixture
def dev(settings, tmp_path: Path) -> Client:
    settings.DEBUG = True
    settings.DEV_STATIC_CACHE_DIR = tmp_path / "cache"
    return Client()


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_the_editor_bundle_is_served_gzipped_with_cache_validators(dev: Client) -> None:
    assert "DevStaticMiddleware" in " ".join(django_settings.MIDDLEWARE)
    whole = BUNDLE.read_bytes()

    first = dev.get(URL, headers={"accept-encoding": "gzip, deflate"})

    assert first.status_code == 200
    assert first["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in first["Vary"]
    assert first["Cache-Control"] == "max-age=0, public"
    assert first["Content-Type"].startswith("text/javascript")
    sent = body(first)
    assert gzip.decompress(sent) == whole
    assert len(sent) < 0.4 * len(whole), (len(sent), len(whole))
    # A reload revalidates: nothing is sent again while the file is unchanged.
    again = dev.get(
        URL,
        headers={"accept-encoding": "gzip", "if-none-match": first["ETag"]},
    )
    assert again.status_code == 304
    assert body(again) == b""


def test_a_client_without_gzip_gets_the_file_itself(dev: Client) -> None:
    plain = dev.get(URL)
    assert plain.status_code == 200
    assert not plain.has_header("Content-Encoding")
    assert body(plain) == BUNDLE.read_bytes()


def test_an_edited_file_is_compressed_afresh(dev: Client, settings, tmp_path: Path) -> None:
    source = tmp_path / "static"
    source.mkdir()
    settings.STATICFILES_DIRS = [source]
    script = source / "edited.js"
    script.write_text("const first = 1;\n" * 500)

    before = dev.get("/static/edited.js", headers={"accept-encoding": "gzip"})
    script.write_text("const second = 2;\n" * 600)
    after = dev.get("/static/edited.js", headers={"accept-encoding": "gzip"})

    assert gzip.decompress(body(before)) == b"const first = 1;\n" * 500
    assert after["Content-Encoding"] == "gzip"
    assert gzip.decompress(body(after)) == b"const second = 2;\n" * 600
    assert before["ETag"] != after["ETag"]


def test_a_small_or_incompressible_file_goes_out_as_it_is(
    dev: Client, settings, tmp_path: Path
) -> None:
    source = tmp_path / "static"
    source.mkdir()
    settings.STATICFILES_DIRS = [source]
    (source / "tiny.css").write_text("a{}\n")
    noise = random.Random(1).randbytes(8192)  # random bytes do not shrink by 5 %
    (source / "noise.js").write_bytes(noise)

    tiny = dev.get("/static/tiny.css", headers={"accept-encoding": "gzip"})
    noisy = dev.get("/static/noise.js", headers={"accept-encoding": "gzip"})
    noisy_again = dev.get("/static/noise.js", headers={"accept-encoding": "gzip"})

    assert not tiny.has_header("Content-Encoding") and body(tiny) == b"a{}\n"
    assert not noisy.has_header("Content-Encoding") and body(noisy) == noise
    assert body(noisy_again) == noise


def make_run_arguments() -> list[str]:
    """The `runserver` arguments of the Makefile's `run` recipe, before the address."""
    makefile = (Path(django_settings.BASE_DIR) / "Makefile").read_text()
    recipe = next(line for line in makefile.splitlines() if "manage.py runserver" in line)
    words = recipe.split("manage.py runserver", 1)[1].split()
    return [word for word in words if word.startswith("--")]


def test_make_run_serves_the_bundle_compressed_from_a_real_runserver(tmp_path: Path) -> None:
    """`runserver` (daphne's) serves static files itself unless told not to, bypassing
    the middleware: `make run` must pass what lets the middleware serve them."""
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DEV_STATIC_CACHE_DIR": str(tmp_path / "cache"),
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "manage.py", "runserver", "--noreload", *make_run_arguments()]
    with (tmp_path / "runserver.log").open("wb") as log:
        server = subprocess.Popen(
            [*command, f"127.0.0.1:{port}"],
            cwd=django_settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}{URL}",
                    headers={"accept-encoding": "gzip"},
                    timeout=10,
                )
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "runserver.log").read_text()) from None
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["cache-control"] == "max-age=0, public"
    assert int(response.headers["content-length"]) < 0.4 * BUNDLE.stat().st_size
    assert response.content == BUNDLE.read_bytes()  # httpx decodes it
