"""The console in a real browser: Playwright drives Debian's Chromium (/usr/bin/chromium, headless;
`.ci/run` installs the `chromium` package; Playwright downloads no browser) against the whole
gateway under uvicorn.  Each step waits at most 10 seconds.

The pages' screenshots land in the test's temporary directory (`screenshots/`), printed by
`test_every_page_renders_and_is_saved_as_a_screenshot` for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.encoding import segment
from gateway.locales import Catalogs
from tests.conftest import FR_MOBILE, ROOT, US_MOBILE
from tests.console.test_pages import dead_letter  # noqa: F401 (the fixture)
from tests.flows.test_outbound import US_SENDER

CHROMIUM = Path("/usr/bin/chromium")
STEP_MS = 10_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=(
        "Debian's Chromium is not installed (/usr/bin/chromium): apt-get install chromium, as .ci/run does, "
        "to run the console's browser tests"
    ),
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The browser checks the pages; the HTTP tests run them on both backends."""
    return f"sqlite:///{tmp_path / 'gateway.db'}"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            timeout=30_000,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
            env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")},
        )
        yield launched
        launched.close()


@pytest.fixture
def signed_in(browser, stack):  # type: ignore[no-untyped-def]
    """A browser tab signed in with the account's AccountSid and AuthToken (what the Basic prompt would take)."""
    context = browser.new_context(
        http_credentials={"username": stack.account_sid, "password": stack.auth_token},
        base_url=stack.url,
        locale="en-US",
    )
    context.set_default_timeout(STEP_MS)
    page = context.new_page()
    yield page
    context.close()


def test_the_console_opens_only_after_signing_in(browser, stack):
    anonymous = browser.new_context(base_url=stack.url)
    try:  # (a headless browser cannot show the sign-in prompt: ask as its page would, and read the answer)
        response = anonymous.request.get("/console/", timeout=STEP_MS)
        assert response.status == 401 and response.headers["www-authenticate"].startswith("Basic")
        assert stack.account_sid not in response.text()
    finally:
        anonymous.close()
    signed = browser.new_context(
        base_url=stack.url, http_credentials={"username": stack.account_sid, "password": stack.auth_token}
    )
    try:
        page = signed.new_page()
        response = page.goto("/console/", timeout=STEP_MS)
        assert response is not None and response.status == 200
        assert page.locator("h1").inner_text() == "Overview"
        assert page.locator("svg.chart").count() == 4
    finally:
        signed.close()


def test_searching_an_opted_out_number_in_local_format_shows_its_history(signed_in, stack, service, stop):
    stop(US_MOBILE, "STOP")
    page = signed_in
    page.goto("/console/numbers")
    page.fill("#q", "(201) 555-0123")
    page.click("form.search button")
    page.wait_for_url(f"**/console/numbers/{US_MOBILE}")
    assert "opted out" in page.locator("table.states tbody tr").first.inner_text()
    event = page.locator("table.history tbody tr").first.inner_text()
    assert "opt-out" in event and "STOP" in event and "Acme Dental" in event


def test_opting_a_number_back_in_with_a_reason_adds_the_event(signed_in, stack, service, stop):
    stop(US_MOBILE, "STOP")
    page = signed_in
    page.goto(f"/console/numbers/{US_MOBILE}")
    page.check("input[name=action][value=opt_in]")
    page.select_option("#scope", service.sid)
    page.fill("#reason", "Customer called to resubscribe, ticket 4711")
    page.click("form.change button")
    page.wait_for_url("**?done=opted_in")
    assert "Opted back in" in page.locator("[role=status]").inner_text()
    newest = page.locator("table.history tbody tr").first.inner_text()
    assert "opt-in" in newest and "console" in newest and "Customer called to resubscribe, ticket 4711" in newest
    assert "opted in" in page.locator("table.states tbody tr").first.inner_text()


def test_the_policy_tester_shows_a_french_arret_as_stop_in_french(signed_in, stack, service, shipped):
    page = signed_in
    page.goto("/console/tester")
    page.fill("#text", "ARRÊT")
    page.fill("#from", FR_MOBILE)
    page.click("form.tester button")
    exact = page.locator("section.result[data-mode=exact]")
    assert exact.locator(".kind").inner_text() == "STOP" and exact.locator(".language").inner_text() == "fr"
    assert exact.locator(".country").inner_text() == "FR"
    words = shipped.table("FR").reply_words("fr")
    reply = Catalogs.load(ROOT / "locales").render(
        "opt_out", "fr", {"brand": "Acme Dental", "help_contact": US_SENDER} | words
    )
    sent = segment(reply, smart=True)  # the service's Smart Encoding, as the confirmation goes out
    assert exact.locator(".reply").inner_text().strip("“”") == sent.text
    assert exact.locator(".encoding").inner_text() == sent.encoding
    assert exact.locator(".segments").inner_text().startswith(str(sent.segments))
    assert page.locator("section.result[data-mode=reasonable] .kind").inner_text() == "STOP"


def test_replaying_a_dead_letter_from_the_queue_page(signed_in, stack, dead_letter):  # noqa: F811
    page = signed_in
    page.goto("/console/queues")
    page.click(f"form[action='/console/queues/dead-letters/{dead_letter}/replay'] button")
    page.wait_for_url(f"**/console/queues?replayed={dead_letter}")
    assert f"Dead letter {dead_letter} is queued again." in page.locator("[role=status]").inner_text()
    stack.app.wait_for(lambda r: r.path == "/inbound" and r.field("Body") == "Hello")
    page.reload()
    assert "No dead letters." in page.locator("table.dead-letters").inner_text()


def test_every_page_renders_and_is_saved_as_a_screenshot(signed_in, stack, service, stop, tmp_path):
    stop(US_MOBILE, "STOP")
    stop(FR_MOBILE, "Arrêt")
    sid = stack.client().messages.list(to=US_MOBILE)[0].sid
    shots = tmp_path / "screenshots"
    pages = {
        "overview": "/console/",
        "numbers": "/console/numbers",
        "number": f"/console/numbers/{US_MOBILE}",
        "tester": f"/console/tester?text=ARR%C3%8AT&from=%2B{FR_MOBILE[1:]}",
        "queues": "/console/queues",
        "messages": "/console/messages",
        "message": f"/console/messages/{sid}",
        "overview-fr": "/console/?lang=fr",
    }
    for name, path in pages.items():
        response = signed_in.goto(path)
        assert response is not None and response.status == 200, name
        assert signed_in.locator("h1").count() == 1, name
        signed_in.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    print(f"\nconsole screenshots: {shots}")
    assert sorted(p.stem for p in shots.glob("*.png")) == sorted(pages)


@pytest.fixture
def narrow(browser, stack):  # type: ignore[no-untyped-def]
    """A signed-in tab 320 CSS pixels wide (WCAG 2.1, 1.4.10 Reflow), gathering the browser console's errors."""
    context = browser.new_context(
        http_credentials={"username": stack.account_sid, "password": stack.auth_token},
        base_url=stack.url,
        locale="en-US",
        viewport={"width": 320, "height": 640},
    )
    context.set_default_timeout(STEP_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def _every_page(stack, stop) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Each kind of console page, with data on it: an opted-out number, a message, a long tester text."""
    stop(US_MOBILE, "STOP")
    sid = stack.client().messages.list(to=US_MOBILE)[0].sid
    long_text = "Please%20stop%20sending%20me%20these%20messages%20" * 6
    return {
        "overview": "/console/",
        "numbers": "/console/numbers",
        "number": f"/console/numbers/{US_MOBILE}",
        "tester": f"/console/tester?text={long_text}&from=%2B{FR_MOBILE[1:]}",
        "queues": "/console/queues",
        "messages": "/console/messages",
        "message": f"/console/messages/{sid}",
        "message-fr": f"/console/messages/{sid}?lang=fr",
    }


def test_every_page_reflows_at_320_css_pixels(narrow, stack, service, stop):
    """Nothing scrolls sideways at 320 px: the page is no wider than the window."""
    for name, path in _every_page(stack, stop).items():
        narrow.goto(path)
        width = narrow.evaluate("document.documentElement.scrollWidth")
        narrow.screenshot(path=f"/tmp/console-320-{name}.png", full_page=True)
        assert width <= 320, f"{name} ({path}) is {width} px wide"


def test_no_page_logs_an_error_in_the_browser_console(narrow, stack, service, stop):
    """Not even the first page's request for an icon."""
    for path in _every_page(stack, stop).values():
        narrow.goto(path)
        narrow.wait_for_load_state("networkidle")
    assert narrow.errors == []  # type: ignore[attr-defined]
