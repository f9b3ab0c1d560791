"""The project page's script does not reconnect after a refusal (4429 here): it says why."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.support.browser import CHROMIUM, launch_chromium
from tests.support.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.browser


@pytest.fixture
def served() -> Iterator[tuple[AppServer, dict[str, str]]]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs the Debian package")
    with AppServer(WS_MAX_SOCKETS_PER_USER="1") as server:
        server.manage("migrate", "--no-input", "-v0")
        made = create_user_and_project(server, username="ada", password="ada-password-77")
        server.start()
        yield server, made


def test_a_refused_socket_shows_a_message_and_is_not_retried(served) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, made = served
    url = f"ws://127.0.0.1:{server.port}/ws/projects/{made['project_id']}/?token={made['token']}"
    # Another client already holds the user's only socket.
    with (
        connect(url, origin="http://localhost") as elsewhere,  # type: ignore[arg-type]
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{server.url}/login/")
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "ada-password-77")
        page.click("button[type=submit]")
        page.goto(f"{server.url}/projects/{made['project_id']}/")

        expect(page.locator("#socket-closed")).to_contain_text("too many connections")
        # Counted once the refusal is shown: an earlier socket that dropped for another
        # reason (1006 on a loaded machine) is rightly retried; after a 4429 nothing is.
        refusals_shown = server.log.read_text().count("sockets open, refused")
        time.sleep(3)  # the script retries other closes after 2 s
        browser.close()
        elsewhere.close()

    assert refusals_shown >= 1
    assert server.log.read_text().count("sockets open, refused") == refusals_shown
