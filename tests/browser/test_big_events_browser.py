"""A 250 KB model answer in a real browser (Playwright + Debian's Chromium): the page
fetches the referenced `conversation_message` and applies it before the `run_finished`
behind it (the fetch made slow), so the live text is replaced by the one stored message,
not left beside it, stopped."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import CHROMIUM, launch_chromium
from tests.support.model_server import ModelServer, text
from tests.support.servers import AppServer, create_user_and_project

pytestmark = pytest.mark.browser

ANSWER = "".join(f'Line {n}: "naïve" café, 50 % → done.\n' for n in range(6000))[:250_000]


@pytest.fixture
def served() -> Iterator[tuple[AppServer, ModelServer]]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs the Debian package")
    model = ModelServer()
    model.start()
    server = AppServer(None, OPENAI_BASE_URL=model.base_url, OPENAI_API_KEY="browser-test")
    try:
        server.manage("migrate", "--no-input", "-v0")
        create_user_and_project(server, username="ida", password="ida-password-77", project="Long")
        server.start()
        yield server, model
    finally:
        server.stop()
        model.stop()


def test_the_page_applies_a_referenced_answer_before_the_run_ends(
    served: tuple[AppServer, ModelServer],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, model = served
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        fetched: list[str] = []

        def slowly(route: Any) -> None:
            # A slow fetch: `run_finished` comes meanwhile, and must wait for it.
            fetched.append(route.request.url)
            time.sleep(2)
            route.continue_()

        page.route("**/api/projects/*/events/*", slowly)
        closed: list[int] = []
        page.on("websocket", lambda ws: ws.on("close", lambda _: closed.append(1)))

        page.goto(f"{server.url}/login/")
        page.fill("input[name=username]", "ida")
        page.fill("input[name=password]", "ida-password-77")
        page.click("button[type=submit]")
        page.click("text=Long")
        expect(page.get_by_label("Your message to the agents")).to_be_visible()

        model.script(text(ANSWER))
        page.fill("#prompt", "Write a lot")
        page.click("#send")
        # `run_finished` applied: the run's separator says how it ended.
        expect(page.locator(".run-outcome-label").last).to_have_text("answered", timeout=90_000)
        # Read at once, not awaited: by the time the run's end shows, the answer that
        # came before it must be in place, whole (an event applied out of order would
        # leave the live text "stopped" and add the answer beside it later).
        answer = page.locator(".message.vibecoder")
        assert answer.count() == 1
        assert answer.get_attribute("class") == "message vibecoder"
        assert answer.locator(".content").text_content() == ANSWER
        assert any(url.startswith(f"{server.url}/api/projects/") for url in fetched), fetched
        page.wait_for_timeout(3000)
        assert answer.count() == 1
        assert not closed, "the page's socket closed"
        browser.close()
