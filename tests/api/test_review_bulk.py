"""Where a comment lives (its link, its parent post, its author's history) and bulk actions on the queue."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from service.db import bulk
from service.db.item_context import platform_link
from service.db.models import AuditEntry, AuthorOffence, ClassificationRecord, ReviewItem
from service.db.review import QueueFilter, claim, list_items
from tests.api import test_review

app, login = test_review.app, test_review.login  # the review app fixture (users maria and sam, a review key), signing in

ABUSIVE = "those clowns again"  # in review: negative + abusive, policy remove_post
PII = "those clowns want my tenancy ref 00458812"  # in review: negative + abusive + pii, policy delete_post
LINK = "https://www.facebook.com/123456789/posts/987?comment_id=555"
PARENT = "Our new office opens on Monday <b>9am</b> & everyone's welcome"


def _key(app: Any) -> dict[str, str]:
    return {"X-API-Key": app.state.review_key}


def _post(app: Any, text: str, **fields: Any) -> dict[str, Any]:
    answer = app.state.test_client.post("/classify", json={"text": text, **fields})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["needs_review"]
    return body


def _item_id(app: Any, record_id: str) -> str:
    with app.state.session_factory() as session:
        item = session.scalar(select(ReviewItem).where(ReviewItem.classification_id == record_id))
        assert item is not None
        return item.id


def _bulk(app: Any, **body: Any) -> Any:
    return app.state.test_client.post("/review/items/bulk/decisions", headers=_key(app), json=body)


def _decisions(app: Any) -> list[AuditEntry]:
    with app.state.session_factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.event == "decision")))


# --- where a comment lives -------------------------------------------------------------------------------------------

def test_the_item_api_gives_the_link_the_parent_post_and_the_authors_history_but_never_the_author(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    older = _post(app, "absolute muppets the lot of them", author_id="fb-user-42", channel="facebook")
    other_author = _post(app, "that clown at the office", author_id="fb-user-7", channel="facebook")
    client.post("/classify", json={"text": "you useless f***ing clowns", "author_id": "fb-user-42", "channel": "facebook"})
    older_item = _item_id(app, older["record_id"])
    decided = client.post(f"/review/items/{older_item}/decision", headers=_key(app), json={"labels": ["negative"], "flags": []})
    assert decided.status_code == 200
    newest = _post(app, ABUSIVE, author_id="fb-user-42", channel="facebook", url=LINK, parent_text=PARENT)
    items = {i["record_id"]: i for i in client.get("/review/items", headers=_key(app)).json()["items"]}
    item = items[newest["record_id"]]
    assert item["url"] == LINK and item["parent_text"] == PARENT
    history = item["author_history"]
    assert [h["record_id"] for h in history][1:] == [older["record_id"]]  # newest first, the item itself left out
    auto, reviewed = history
    assert auto["item_id"] is None and auto["status"] is None and auto["decision"] is None  # decided without review
    assert auto["labels"] == ["negative", "abusive"] and auto["redacted_text"] is None  # its text was never kept
    assert reviewed["item_id"] == older_item and reviewed["status"] == "decided"
    assert reviewed["decision"]["labels"] == ["negative"] and reviewed["decision"]["actor"] == "key:tool"
    assert other_author["record_id"] not in {h["record_id"] for h in history}
    assert items[other_author["record_id"]]["author_history"] == []
    assert "fb-user-42" not in client.get("/review/items", headers=_key(app)).text


NOT_WEB_LINKS = ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<script>x</script>", "//evil.example/x",
                 "/review/logout", "https://", "ftp://files.example/x", "http://[::1", "", None]


@pytest.mark.parametrize("stored", NOT_WEB_LINKS)
def test_when_a_stored_link_is_not_http_with_a_host_then_it_is_not_a_link(stored: str | None) -> None:
    assert platform_link(stored) is None


@pytest.mark.parametrize("stored", [LINK, "http://youtube.com/watch?v=abc&lc=Ugz", "HTTPS://x.com/u/status/1"])
def test_an_http_link_with_a_host_is_a_link(stored: str) -> None:
    assert platform_link(stored) == stored


def test_when_a_stored_link_is_javascript_then_neither_the_api_nor_the_page_links_it(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    posted = _post(app, ABUSIVE, url="https://example.org/ok")
    with app.state.session_factory() as session:  # as an old row or another adapter might have stored it
        session.execute(update(ClassificationRecord).where(ClassificationRecord.id == posted["record_id"])
                        .values(url="javascript:alert(1)"))
        session.commit()
    assert client.get("/review/items", headers=_key(app)).json()["items"][0]["url"] is None
    login(client)
    page = client.get(f"/review/items/{_item_id(app, posted['record_id'])}").text
    assert 'id="platform-link"' not in page and "javascript:" not in page and "No link to the comment" in page


def test_a_link_other_than_http_is_refused_when_classifying(app) -> None:  # type: ignore[no-untyped-def]
    answer = app.state.test_client.post("/classify", json={"text": ABUSIVE, "url": "javascript:alert(1)"})
    assert answer.status_code == 422 and "url" in answer.text


def test_the_item_page_links_the_platform_safely_shows_the_parent_escaped_and_the_history(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    older = _post(app, "absolute muppets the lot of them", author_id="u9", channel="instagram")
    newest = _post(app, ABUSIVE, author_id="u9", channel="instagram", url=LINK + '&x="><script>', parent_text=PARENT)
    login(client)
    page = client.get(f"/review/items/{_item_id(app, newest['record_id'])}")
    link = re.search(r'<a id="platform-link" href="([^"]*)" target="_blank" rel="noopener noreferrer">', page.text)
    assert link is not None and html.unescape(link.group(1)) == LINK + '&x="><script>'
    assert "<script>" not in link.group(1)
    parent = re.search(r'<blockquote class="text parent" id="parent-text">(.*?)</blockquote>', page.text, re.S)
    assert parent is not None and html.unescape(parent.group(1)) == PARENT and "<b>" not in parent.group(1)
    rows = re.findall(r'<tr class="history-row">(.*?)</tr>', page.text, re.S)
    assert len(rows) == 1 and f'href="/review/items/{_item_id(app, older["record_id"])}"' in rows[0]
    assert "waiting for review" in rows[0] and "abusive" in rows[0]
    csp = page.headers["content-security-policy"]
    assert "script-src 'nonce-" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_without_an_author_the_page_says_there_is_no_history(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    posted = _post(app, ABUSIVE)
    login(client)
    page = client.get(f"/review/items/{_item_id(app, posted['record_id'])}").text
    assert "The author was not given" in page and 'class="history-row"' not in page and 'id="parent-text"' not in page


# --- bulk actions: what each means ----------------------------------------------------------------------------------

HAND = {  # the same decision made by hand through the single-item route
    "confirm": lambda said: {"labels": said["labels"], "flags": said["flags"], "action": None},
    "clear": lambda said: {"labels": [], "flags": [], "action": None},
    "remove": lambda said: {"labels": said["labels"], "flags": said["flags"], "action": said["removal"]},
}


@pytest.mark.parametrize("action", ["confirm", "clear", "remove"])
@pytest.mark.parametrize(("text", "removal"), [(ABUSIVE, "remove_post"), (PII, "delete_post")])
def test_a_bulk_action_decides_each_item_exactly_as_by_hand(app, action: str, text: str, removal: str) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    by_hand = _post(app, text, author_id="a-hand", channel="facebook")
    in_bulk = _post(app, text, author_id="a-bulk", channel="twitter")
    said = {"labels": by_hand["labels"], "flags": [f for f, on in by_hand["flags"].items() if on], "removal": removal}
    hand = client.post(f"/review/items/{_item_id(app, by_hand['record_id'])}/decision", headers=_key(app), json=HAND[action](said))
    assert hand.status_code == 200, hand.text
    done = _bulk(app, action=action, filter={"channel": "twitter"})
    assert done.status_code == 200, done.text
    assert done.json()["count"] == 1 and done.json()["items"][0]["record_id"] == in_bulk["record_id"]
    entries = {e.classification_id: e for e in _decisions(app)}
    assert len(entries) == 2
    assert entries[in_bulk["record_id"]].decided == entries[by_hand["record_id"]].decided == {
        "labels": [] if action == "clear" else said["labels"], "flags": [] if action == "clear" else said["flags"],
        "action": removal if action == "remove" else None}
    assert entries[in_bulk["record_id"]].model_said == entries[by_hand["record_id"]].model_said
    with app.state.session_factory() as session:
        def offences(record_id: str) -> list[tuple[str, bool]]:
            return sorted((o.reason, o.cleared_at is not None) for o in session.scalars(
                select(AuthorOffence).where(AuthorOffence.classification_id == record_id)))
        assert offences(in_bulk["record_id"]) == offences(by_hand["record_id"])
        assert offences(in_bulk["record_id"])  # the policy counted the removal against the author
        assert all(cleared for _, cleared in offences(in_bulk["record_id"])) is (action == "clear")


def test_a_dry_run_says_what_would_change_and_changes_nothing_then_the_action_writes_one_entry_per_item(app) -> None:  # type: ignore[no-untyped-def]
    records = [_post(app, f"{ABUSIVE} number {i}", channel="facebook")["record_id"] for i in range(4)]
    _post(app, ABUSIVE, channel="youtube")  # not matched by the filter
    preview = _bulk(app, action="confirm", filter={"channel": "facebook", "label": "abusive"}, dry_run=True)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["dry_run"] and body["count"] == 4 and {i["record_id"] for i in body["items"]} == set(records)
    assert all(i["decision_id"] is None for i in body["items"]) and _decisions(app) == []
    done = _bulk(app, action="confirm", item_ids=[i["item_id"] for i in body["items"]], note="the model is right here")
    assert done.status_code == 200 and done.json()["count"] == 4 and not done.json()["dry_run"]
    entries = _decisions(app)
    assert sorted(e.classification_id or "" for e in entries) == sorted(records)
    assert {e.id for e in entries} == {i["decision_id"] for i in done.json()["items"]}
    assert {(e.actor, e.note) for e in entries} == {("key:tool", "the model is right here")}
    with app.state.session_factory() as session:
        open_left = list_items(session, QueueFilter(limit=50))
        assert [rec.channel for _, rec in open_left] == ["youtube"]


def test_items_another_moderator_holds_are_skipped_and_reported(app) -> None:  # type: ignore[no-untyped-def]
    records = [_post(app, f"{ABUSIVE} {i}")["record_id"] for i in range(3)]
    held = _item_id(app, records[1])
    with app.state.session_factory() as session:
        claim(session, held, "sam")
    done = _bulk(app, action="clear", filter={})
    assert done.status_code == 200
    body = done.json()
    assert body["count"] == 2 and body["skipped"] == [{"item_id": held, "reason": body["skipped"][0]["reason"]}]
    assert "being reviewed by sam" in body["skipped"][0]["reason"]
    with app.state.session_factory() as session:
        item = session.get(ReviewItem, held)
        assert item is not None and item.status == "open" and item.claimed_by == "sam"
    assert sorted(e.classification_id or "" for e in _decisions(app)) == sorted([records[0], records[2]])


def test_an_item_claimed_after_the_plan_is_skipped_when_applying_and_the_rest_stand(app) -> None:  # type: ignore[no-untyped-def]
    records = [_post(app, f"{ABUSIVE} {i}")["record_id"] for i in range(3)]
    with app.state.session_factory() as session:
        plan = bulk.plan_bulk(session, "confirm", "maria", flt=QueueFilter())
        assert len(plan.items) == 3
        claim(session, _item_id(app, records[0]), "sam")  # between the confirmation and the click
        result = bulk.apply_bulk(session, plan, "maria")
    assert [s.item_id for s in result.skipped] == [_item_id(app, records[0])] and len(result.decided) == 2
    assert len(_decisions(app)) == 2


def test_a_fault_part_way_decides_nothing_one_transaction(app, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        _post(app, f"{ABUSIVE} {i}")
    real, calls = bulk._decide, []

    def failing_on_the_third(*args: Any, **kwargs: Any) -> AuditEntry:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the disk is full")
        return real(*args, **kwargs)

    monkeypatch.setattr(bulk, "_decide", failing_on_the_third)
    with app.state.session_factory() as session, pytest.raises(RuntimeError):
        bulk.apply_bulk(session, bulk.plan_bulk(session, "remove", "maria", flt=QueueFilter()), "maria")
    assert _decisions(app) == []
    with app.state.session_factory() as session:
        assert {i.status for i in session.scalars(select(ReviewItem))} == {"open"}
        assert {i.claimed_by for i in session.scalars(select(ReviewItem))} == {None}


# --- bulk actions: limits and refusals ------------------------------------------------------------------------------

def test_a_filter_matching_more_than_the_cap_is_refused_and_changes_nothing(app, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(bulk, "MAX_BULK_ITEMS", 2)
    for i in range(3):
        _post(app, f"{ABUSIVE} {i}", channel="facebook")
    refused = _bulk(app, action="remove", filter={"channel": "facebook"})
    assert refused.status_code == 422
    assert "more than 2 items" in refused.json()["error"] and "narrow it" in refused.json()["error"]
    assert _decisions(app) == []
    none = _bulk(app, action="remove", filter={"channel": "facebook", "min_age_hours": 1})  # none match: nothing to do
    assert none.status_code == 200 and none.json()["count"] == 0 and _decisions(app) == []


BAD_BODIES = {
    "both_scopes": ({"action": "clear", "filter": {}, "item_ids": ["x"]}, 422, "exactly one"),
    "no_scope": ({"action": "clear"}, 422, "exactly one"),
    "unknown_action": ({"action": "delete_everything", "filter": {}}, 422, "action"),
    "unknown_label": ({"action": "clear", "filter": {"label": "rude"}}, 422, "filter.label"),
    "infinite_age": ({"action": "clear", "filter": {"min_age_hours": 1e309}}, 422, "filter.min_age_hours"),
    "empty_ids": ({"action": "clear", "item_ids": []}, 422, "item_ids"),
    "unknown_id": ({"action": "clear", "item_ids": ["no-such-item"]}, 404, "no-such-item"),
}


@pytest.mark.parametrize(("body", "code", "says"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_bulk_request_is_a_clear_4xx(app, body: dict[str, Any], code: int, says: str) -> None:  # type: ignore[no-untyped-def]
    _post(app, ABUSIVE)
    answer = app.state.test_client.post("/review/items/bulk/decisions", headers={**_key(app), "Content-Type": "application/json"},
                                        content=json.dumps(body))  # json.dumps writes Infinity, as a careless client might
    assert answer.status_code == code, answer.text
    assert says in answer.text
    assert _decisions(app) == []


def test_the_bulk_route_needs_the_review_scope_or_a_moderator_with_the_csrf_header(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    _post(app, ABUSIVE)
    body = {"action": "clear", "filter": {}}
    assert client.post("/review/items/bulk/decisions", json=body).status_code == 401
    assert client.post("/review/items/bulk/decisions", json=body, headers={"X-API-Key": app.state.classify_key}).status_code == 403
    token = login(client)
    assert client.post("/review/items/bulk/decisions", json=body).status_code == 403  # the cookie without the CSRF header
    assert _decisions(app) == []
    done = client.post("/review/items/bulk/decisions", json=body, headers={"X-CSRF-Token": token})
    assert done.status_code == 200 and done.json()["count"] == 1
    assert [e.actor for e in _decisions(app)] == ["maria"]


def test_the_bulk_route_declares_its_statuses(app) -> None:  # type: ignore[no-untyped-def]
    spec = app.state.test_client.get("/openapi.json").json()
    declared = set(spec["paths"]["/review/items/bulk/decisions"]["post"]["responses"])
    assert {"200", "401", "403", "404", "422", "500", "503"} <= declared
    assert app.state.test_client.get("/review/items/bulk/decisions", headers=_key(app)).status_code == 405


# --- the pages -------------------------------------------------------------------------------------------------------

def _bulk_form(token: str, **fields: Any) -> dict[str, Any]:
    return {"csrf_token": token, "label": "", "channel": "", "min_age_hours": "", **fields}


def test_the_pages_confirm_the_count_first_then_apply_to_exactly_the_confirmed_items(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    first = [_post(app, f"{ABUSIVE} {i}", channel="twitter")["record_id"] for i in range(2)]
    token = login(client)
    confirm = client.post("/review/bulk", data=_bulk_form(token, action="remove", scope="filter", channel="twitter"))
    assert confirm.status_code == 200, confirm.text
    assert re.search(r'<strong id="change-count">2</strong> items will change', confirm.text)
    assert _decisions(app) == []
    late = _post(app, f"{ABUSIVE} late", channel="twitter")["record_id"]  # arrived after the count was shown
    ids = re.findall(r'<input type="hidden" name="item_ids" value="([^"]+)">', confirm.text)
    back = re.search(r'name="back" value="([^"]+)"', confirm.text).group(1)  # type: ignore[union-attr]
    assert html.unescape(back) == "/review?channel=twitter"
    done = client.post("/review/bulk/apply", data={"csrf_token": token, "action": "remove", "item_ids": ids, "back": back})
    assert done.status_code == 200 and '<strong id="decided-count">2</strong> items decided' in done.text
    entries = _decisions(app)
    assert sorted(e.classification_id or "" for e in entries) == sorted(first)
    assert {e.decided["action"] for e in entries if e.decided} == {"remove_post"}
    with app.state.session_factory() as session:
        late_item = session.scalar(select(ReviewItem).where(ReviewItem.classification_id == late))
        assert late_item is not None and late_item.status == "open"


def test_the_pages_act_on_the_ticked_items_only(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    records = [_post(app, f"{ABUSIVE} {i}")["record_id"] for i in range(3)]
    token = login(client)
    ticked = [_item_id(app, records[0]), _item_id(app, records[2])]
    confirm = client.post("/review/bulk", data=_bulk_form(token, action="clear", scope="checked", item_ids=ticked))
    assert re.search(r'<strong id="change-count">2</strong> items will change', confirm.text)
    assert client.post("/review/bulk", data=_bulk_form(token, action="clear", scope="checked")).status_code == 422
    client.post("/review/bulk/apply", data={"csrf_token": token, "action": "clear", "item_ids": ticked})
    assert sorted(e.classification_id or "" for e in _decisions(app)) == sorted([records[0], records[2]])


def test_the_confirmation_page_refuses_a_filter_over_the_cap_saying_so(app, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    monkeypatch.setattr(bulk, "MAX_BULK_ITEMS", 1)
    for i in range(2):
        _post(app, f"{ABUSIVE} {i}")
    token = login(client)
    page = client.post("/review/bulk", data=_bulk_form(token, action="remove", scope="filter"), headers={"Accept": "text/html"})
    assert page.status_code == 422 and "the filter matches more than 1 items" in page.text and "narrow it" in page.text
    odd = client.post("/review/bulk", data=_bulk_form(token, action="remove", scope="everything"), headers={"Accept": "text/html"})
    assert odd.status_code == 422 and "the ticked items" in odd.text
    assert _decisions(app) == []


@pytest.mark.parametrize("step", ["confirm", "apply"])
@pytest.mark.parametrize("token", ["", "forged"])
def test_the_bulk_forms_need_the_csrf_token(app, step: str, token: str) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    item_id = _item_id(app, _post(app, ABUSIVE)["record_id"])
    login(client)
    path = "/review/bulk" if step == "confirm" else "/review/bulk/apply"
    answer = client.post(path, data={"csrf_token": token, "action": "clear", "scope": "checked", "item_ids": [item_id]})
    assert answer.status_code == 403 and _decisions(app) == []


def test_the_queue_page_offers_the_bulk_form_with_its_filter_and_a_tick_per_row(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    item_id = _item_id(app, _post(app, ABUSIVE, channel="linkedin")["record_id"])
    login(client)
    page = client.get("/review?channel=linkedin&label=abusive").text
    assert '<input type="hidden" name="channel" value="linkedin">' in page and '<input type="hidden" name="label" value="abusive">' in page
    assert f'name="item_ids" value="{item_id}" form="bulk"' in page


# --- the queue's label filter reads past its first page ---------------------------------------------------------------

def test_the_label_filter_finds_matches_behind_many_items_that_do_not_match(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with app.state.session_factory() as session:
        for i in range(260):  # urgent items without the label, ahead of the low ones in queue order
            record = ClassificationRecord(labels=["query"], scores={}, flags={}, source="rules", review_reasons=[], evidence=[],
                                          text_sha256=f"{i:064d}")
            session.add(record)
            session.flush()
            session.add(ReviewItem(classification_id=record.id, priority_rank=0, reasons=[], status="open"))
        wanted = []
        for i in range(3):
            record = ClassificationRecord(labels=["abusive"], scores={}, flags={}, source="rules", review_reasons=[],
                                          evidence=[], text_sha256=f"{i + 1000:064d}")
            session.add(record)
            session.flush()
            session.add(ReviewItem(classification_id=record.id, priority_rank=4, reasons=[], status="open"))
            wanted.append(record.id)
        session.commit()
        found = list_items(session, QueueFilter(label="abusive", limit=2))
        assert len(found) == 2 and {rec.id for _, rec in found} <= set(wanted)
        assert {rec.id for _, rec in list_items(session, QueueFilter(label="abusive", limit=50))} == set(wanted)


# --- on each database ------------------------------------------------------------------------------------------------

def test_history_and_a_bulk_action_on_each_database(tmp_path: Path, database_url: str) -> None:
    from api.main import create_app
    from service.db.repository import create_api_key
    from tests.api.conftest import make_settings

    sift = create_app(make_settings(tmp_path, database_url=database_url, model_poll_seconds=0))
    with TestClient(sift) as client:
        with sift.state.session_factory() as session:
            _, key = create_api_key(session, "tool", ["review"])
        records = [client.post("/classify", json={"text": f"{ABUSIVE} {i}", "author_id": "x-1", "channel": "twitter"}).json()["record_id"]
                   for i in range(3)]
        items = client.get("/review/items", headers={"X-API-Key": key}).json()["items"]
        assert {i["record_id"]: len(i["author_history"]) for i in items} == dict.fromkeys(records, 2)
        done = client.post("/review/items/bulk/decisions", headers={"X-API-Key": key}, json={"action": "remove", "filter": {}})
        assert done.status_code == 200 and done.json()["count"] == 3
        with sift.state.session_factory() as session:
            entries = list(session.scalars(select(AuditEntry).where(AuditEntry.event == "decision")))
            assert sorted(e.classification_id or "" for e in entries) == sorted(records)
        history = client.post(f"/review/records/{records[0]}/pull", headers={"X-API-Key": key}).json()["author_history"]
        assert [h["decision"]["action"] for h in history] == ["remove_post", "remove_post"]
