"""`/api/docs/` renders in a real browser under the site's Content-Security-Policy."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM, launch_chromium
from tests.support.servers import AppServer

pytestmark = pytest.mark.browser


@pytest.fixture
def server() -> Iterator[AppServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs the Debian package")
    with AppServer() as served:
        served.manage("migrate", "--no-input", "-v0")
        served.start()
        yield served


def test_the_docs_page_renders_every_operation_from_this_site(server: AppServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    elsewhere: list[str] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        page.on(
            "console",
            lambda message: (
                problems.append(message.text)
                if message.type == "error" or "Content Security Policy" in message.text
                else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "request",
            lambda request: (
                elsewhere.append(request.url)
                if not request.url.startswith((server.url, "data:"))
                else None
            ),
        )
        page.goto(f"{server.url}/api/docs/")

        expect(page.locator(".opblock").first).to_be_visible()
        operations = page.locator(".opblock").count()
        expect(page.locator(".information-container")).to_contain_text("Vibegrapher API")
        browser.close()

    assert operations >= 30
    assert not problems, problems
    assert not elsewhere, elsewhere
