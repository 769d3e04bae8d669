"""Where a comment lives and bulk actions, in a real browser (Debian's Chromium driven by Playwright).

The server, the browser and the signed-in moderator are those of :mod:`tests.browser.test_review_pages`
(CI sets SIFT_REQUIRE_BROWSER=1, so there these tests fail rather than skip).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from service.db.models import AuditEntry, ReviewItem
from tests.browser import test_review_pages as pages

server, browser, sign_in = pages.server, pages.browser, pages.sign_in  # the fixtures and signing in, shared

PARENT = "Our new office on Station Road opens on Monday <b>9am</b> & everyone's welcome"


def _decisions(app) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with app.state.session_factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.event == "decision")))


def test_the_item_page_links_the_comment_on_its_platform_and_shows_the_parent_and_the_history(server, browser,  # type: ignore[no-untyped-def]
                                                                                              tmp_path: Path) -> None:
    base, app = server
    # The "platform" is this server: the browser has no internet, and the new tab's opener and referrer can be read.
    link = f"{base}/healthz?comment_id=555&post=1"
    older = httpx.post(f"{base}/classify", json={"text": "you absolute clowns, again", "channel": "instagram",
                                                 "author_id": "ig-77"}).json()
    newest = httpx.post(f"{base}/classify", json={"text": "clowns, the lot of you", "channel": "instagram", "author_id": "ig-77",
                                                  "url": link, "parent_text": PARENT}).json()
    assert older["needs_review"] and newest["needs_review"]
    page = browser.new_page()
    sign_in(page, base)
    page.select_option("#f-channel", "instagram")
    page.click("#apply")
    page.wait_for_url("**/review?*channel=instagram*")
    page.locator("#queue tr.row", has_text="the lot of you").locator("a", has_text="open").click()
    page.wait_for_url("**/review/items/*")
    assert page.locator("#record-id").inner_text() == newest["record_id"]
    anchor = page.locator("#platform-link")
    assert anchor.get_attribute("href") == link
    assert anchor.get_attribute("target") == "_blank" and anchor.get_attribute("rel") == "noopener noreferrer"
    assert page.locator("#parent-text").inner_text() == PARENT  # shown as text, not as markup
    assert page.locator("#parent-text b").count() == 0
    history = page.locator("#history tr.history-row")
    assert history.count() == 1 and "waiting for review" in history.first.inner_text()
    with app.state.session_factory() as session:
        older_item = session.scalar(select(ReviewItem.id).where(ReviewItem.classification_id == older["record_id"]))
    assert history.first.locator("a", has_text="open").get_attribute("href") == f"/review/items/{older_item}"
    assert "ig-77" not in page.content()
    page.screenshot(path=str(tmp_path / "item-with-context.png"), full_page=True)
    with page.expect_popup() as opened:
        anchor.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == link
    assert tab.evaluate("window.opener === null") and tab.evaluate("document.referrer") == ""
    tab.close()
    history.first.locator("a", has_text="open").click()
    page.wait_for_url(f"**/review/items/{older_item}")
    assert page.locator("#record-id").inner_text() == older["record_id"]


def test_a_moderator_removes_a_filtered_queue_after_confirming_the_count_then_clears_a_ticked_item(server, browser,  # type: ignore[no-untyped-def]
                                                                                                   tmp_path: Path) -> None:
    base, app = server
    page = browser.new_page()
    sign_in(page, base)
    page.select_option("#f-channel", "facebook")
    page.click("#apply")
    page.wait_for_url("**/review?*channel=facebook*")
    assert page.locator("#queue tr.row").count() == 2
    page.select_option("#bulk-action", "remove")
    assert page.is_checked("#scope-filter")
    page.click("#bulk-review")
    page.wait_for_url(f"{base}/review/bulk")
    assert page.locator("#change-count").inner_text() == "2"
    assert page.locator("#bulk-items tr.bulk-row").count() == 2
    assert _decisions(app) == []  # the confirmation changes nothing
    page.screenshot(path=str(tmp_path / "bulk-confirm.png"), full_page=True)
    page.fill("#bulk-note", "abuse on the office post")
    page.click("#bulk-confirm")
    page.wait_for_url(f"{base}/review/bulk/apply")
    assert page.locator("#decided-count").inner_text() == "2"
    entries = _decisions(app)
    assert len(entries) == 2 and {e.note for e in entries} == {"abuse on the office post"}
    assert all(e.actor == "maria" and e.decided == {"labels": e.model_said["labels"], "flags": [], "action": "remove_post"}
               for e in entries if e.decided and e.model_said)
    page.click("#back")
    page.wait_for_url("**/review?channel=facebook")
    assert page.locator("#queue tr.row").count() == 0
    page.goto(f"{base}/review")
    rows = page.locator("#queue tr.row")
    assert rows.count() == 1 and "those clowns again" in rows.first.inner_text()
    rows.first.locator("input.tick").check()
    assert page.is_checked("#scope-checked")  # ticking an item switches the action to the ticked items
    page.select_option("#bulk-action", "clear")
    page.click("#bulk-review")
    page.wait_for_url(f"{base}/review/bulk")
    assert page.locator("#change-count").inner_text() == "1"
    page.click("#bulk-confirm")
    page.wait_for_url(f"{base}/review/bulk/apply")
    assert page.locator("#decided-count").inner_text() == "1"
    cleared = [e for e in _decisions(app) if e.decided and e.decided["labels"] == []]
    assert len(cleared) == 1 and cleared[0].decided == {"labels": [], "flags": [], "action": None}
    page.goto(f"{base}/review")
    assert page.locator("#queue tr.row").count() == 0
