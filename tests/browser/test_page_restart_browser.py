"""The project page rides through a server restart (web/static/vibegrapher.js).

The page is served through a local proxy (tests/support/proxy.py), as a platform's is;
the server behind it gets SIGTERM while a run streams, and a new one starts on the
same database. The page learns that the run was interrupted, reconnects after the
1012 close, offers to run the message again, and the run it sends then finishes on the
new server (its first answer a 503 with Retry-After, which the page asks again); at
the end it shows what a fresh load shows.
"""

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import CHROMIUM, launch_chromium
from tests.support.model_server import ModelServer, text
from tests.support.proxy import Proxy
from tests.support.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.browser

ANSWER = " ".join(f"word{n}" for n in range(300))


@pytest.fixture
def model() -> Iterator[ModelServer]:
    server = ModelServer()
    server.start()
    # The first answer streams for a while (the restart comes meanwhile); later ones
    # come at once.
    server.script(text(ANSWER, stream_delay_s=0.1))
    server.route(lambda request: text("Back again."))
    yield server
    server.stop()


def _shown(page: Any) -> list[tuple[str, str, str]]:
    """Each message shown: its id, its outcome label (runs only) and its text."""
    rows: list[tuple[str, str, str]] = page.eval_on_selector_all(
        "#messages > li[data-id]",
        """items => items.map(li => [
            li.dataset.id,
            (li.querySelector('.run-outcome-label') || {}).textContent || '',
            (li.querySelector(':scope > .content') || {}).textContent || '',
        ])""",
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_the_page_reconnects_after_a_restart_and_offers_to_run_again(
    tmp_path: Path, model: ModelServer
) -> None:
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs the Debian package")
    # The page may be waiting out its reconnect delay (up to 15 s) when the new server
    # comes up on a loaded machine.
    expect.set_options(timeout=30_000)

    def server() -> AppServer:
        return AppServer(
            tmp_path,
            DATABASE_URL=f"sqlite:///{tmp_path}/shared.sqlite3",
            OPENAI_BASE_URL=model.base_url,
            OPENAI_API_KEY="test-key",
            SHUTDOWN_GRACE_SECONDS="4",
            RUN_SHUTDOWN_SECONDS="1",
            MESSAGE_DELTA_INTERVAL_SECONDS="0.05",
        )

    first = server()
    first.manage("migrate", "--no-input", "-v0")
    made = create_user_and_project(first, username="ada", password="ada-password-77")
    first.start()
    proxy = Proxy([first.port]).start()
    second: AppServer | None = None
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{proxy.url}/login/")
            page.fill("input[name=username]", "ada")
            page.fill("input[name=password]", "ada-password-77")
            page.click("button[type=submit]")
            page.goto(f"{proxy.url}/projects/{made['project_id']}/")
            page.fill("#prompt", "Tell me a long story")
            page.click("#send")
            expect(page.locator(".message.vibecoder.live")).to_contain_text("word3")

            assert first.process is not None
            first.process.send_signal(signal.SIGTERM)
            first.process.wait(10)
            second = server().start()
            proxy.set_backends([second.port])

            last_run = page.locator("#messages > li.message.user").last
            expect(last_run.locator(".run-outcome-label")).to_have_text(
                "interrupted (server restart)"
            )
            expect(last_run.locator(".run-error")).to_contain_text("server is restarting")
            # The message sent again is first answered as a restarting server answers:
            # the page asks once more after Retry-After, and shows no error.
            refused: list[str] = []

            def restarting_once(route: Any) -> None:
                if route.request.method == "POST" and not refused:
                    refused.append(route.request.url)
                    route.fulfill(
                        status=503,
                        headers={"Retry-After": "1", "Content-Type": "application/json"},
                        body='{"detail": "The server is restarting."}',
                    )
                else:
                    route.continue_()

            page.route("**/api/sessions/*/messages", restarting_once)
            # Reconnected to the new server: the run it sends back is shown live.
            page.locator(".run-again").click()
            expect(page.locator("#messages > li.message.user")).to_have_count(2)
            expect(page.locator(".message.vibecoder:not(.live) .content").last).to_have_text(
                "Back again."
            )
            expect(page.locator("#messages > li.message.user").last.locator(
                ".run-outcome-label"
            )).to_have_text("answered")  # fmt: skip
            expect(page.locator(".run-again")).to_have_count(0)
            assert len(refused) == 1
            expect(page.locator("#prompt-error")).to_have_text("")
            live_view = _shown(page)

            page.reload()
            expect(page.locator("#messages > li.message.user")).to_have_count(2)
            assert _shown(page) == live_view
            browser.close()
    finally:
        proxy.stop()
        for started in (first, second):
            if started is not None:
                started.stop()
