"""The moderators' page in a real browser (Debian's Chromium driven by Playwright).

CI installs Chromium and sets SIFT_REQUIRE_BROWSER=1, so there these tests fail rather than skip.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from api.main import create_app
from service.db.models import AuditEntry, ClassificationRecord
from service.users import create_user
from tests.api.conftest import make_settings
from tests.serving import CheckedThread, wait_until_healthy

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]

if not Path(CHROMIUM).exists():
    if os.environ.get("SIFT_REQUIRE_BROWSER"):
        raise RuntimeError(f"{CHROMIUM} is missing but SIFT_REQUIRE_BROWSER is set: install Debian's chromium package")
    pytest.skip("Debian's chromium is not installed (CI installs it)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, object]]:
    import uvicorn

    app = create_app(make_settings(tmp_path, model_poll_seconds=0))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = CheckedThread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(base)
    with app.state.session_factory() as session:
        create_user(session, "maria", "correct horse battery")
    for text, channel in [("those clowns again", "twitter"), ("absolute muppets the lot of them", "facebook"),
                          ("that clown at the office", "facebook")]:
        assert httpx.post(f"{base}/classify", json={"text": text, "channel": channel}).json()["needs_review"]
    yield base, app
    srv.should_exit = True
    thread.join_checked(timeout=10)


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def sign_in(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/review")
    page.fill("input[name=username]", "maria")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/review")


def test_a_moderator_filters_opens_and_corrects_an_item_with_the_keyboard(server, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, app = server
    page = browser.new_page()
    sign_in(page, base)
    assert page.locator("#queue tr.row").count() == 3
    page.select_option("#f-channel", "twitter")
    page.click("#apply")
    page.wait_for_url("**/review?*channel=twitter*")
    rows = page.locator("#queue tr.row")
    assert rows.count() == 1 and "those clowns again" in rows.first.inner_text()
    rows.first.locator("a", has_text="open").click()
    page.wait_for_url("**/review/items/*")
    assert page.locator("#text mark").first.inner_text() == "clowns"
    record_id = page.locator("#record-id").inner_text()
    assert page.is_checked("#label-abusive") and page.is_checked("#label-negative")
    page.screenshot(path=str(tmp_path / "item.png"))
    page.locator("body").click()
    page.keyboard.press("5")  # abusive off: "clowns" here is not abuse
    page.keyboard.press("2")  # complaint on
    assert not page.is_checked("#label-abusive") and page.is_checked("#label-complaint")
    item_url = page.url
    with page.expect_navigation():
        page.keyboard.press("s")
    assert page.url != item_url
    with app.state.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.classification_id == record_id,
                                                         AuditEntry.event == "decision")).one()
        assert entry.actor == "maria"
        assert entry.model_said["labels"] == ["negative", "abusive"]
        assert entry.decided["labels"] == ["complaint", "negative"]
        assert session.get(ClassificationRecord, record_id) is not None


def test_a_wrong_csrf_token_is_refused(server, browser) -> None:  # type: ignore[no-untyped-def]
    base, app = server
    page = browser.new_page()
    sign_in(page, base)
    page.locator("#queue tr.row a", has_text="open").first.click()
    page.wait_for_url("**/review/items/*")
    page.evaluate("document.querySelector('#decision input[name=csrf_token]').value = 'forged'")
    page.locator("body").click()
    with page.expect_navigation():
        page.keyboard.press("s")
    assert "CSRF token is missing or wrong" in page.content()
    with app.state.session_factory() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.event == "decision")).first() is None


def test_a_signed_out_visitor_sees_nothing(server, browser) -> None:  # type: ignore[no-untyped-def]
    base, _ = server
    page = browser.new_page()
    for path in ["/review", "/review/dashboard", "/review/items/anything"]:
        page.goto(f"{base}{path}")
        assert page.url == f"{base}/review/login"
        body = page.content()
        assert "clown" not in body and "muppets" not in body and "Review queue" not in body
    api = page.request.get(f"{base}/review/items")
    assert api.status == 401 and "clown" not in api.text()


def _session_cookie(page):  # type: ignore[no-untyped-def]
    return next((c for c in page.context.cookies() if c["name"] == "sift_session"), None)


def test_the_session_cookie_is_hidden_from_scripts_and_signing_out_removes_it(server, browser) -> None:  # type: ignore[no-untyped-def]
    base, _ = server
    page = browser.new_page()
    sign_in(page, base)
    cookie = _session_cookie(page)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert not cookie["secure"]  # served over plain http here; over TLS the cookie is Secure
    assert "sift_session" not in page.evaluate("document.cookie")
    page.click("text=Sign out")
    page.wait_for_url(f"{base}/review/login")
    assert _session_cookie(page) is None
    page.goto(f"{base}/review")
    assert page.url == f"{base}/review/login"
    assert page.request.post(f"{base}/review/items/next/claim").status == 401


def test_a_tampered_session_cookie_is_signed_out(server, browser) -> None:  # type: ignore[no-untyped-def]
    base, _ = server
    page = browser.new_page()
    sign_in(page, base)
    cookie = _session_cookie(page)
    assert cookie is not None
    page.context.add_cookies([{**cookie, "value": cookie["value"][::-1]}])  # a session id the server never gave
    page.goto(f"{base}/review")
    assert page.url == f"{base}/review/login" and "Review queue" not in page.content()
