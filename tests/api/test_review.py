"""The review queue and its API: who may see it, claims, decisions and the audit log, pulling, purging."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.main import create_app
from service.db.models import AuditEntry, AuthorOffence, ClassificationRecord, ReviewItem, utcnow
from service.db.repository import create_api_key
from service.db.review import purge_expired
from service.users import create_user
from tests.api.conftest import make_settings

UNSURE = ["those clowns again", "absolute muppets the lot of them", "that clown at the office"]


@pytest.fixture
def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path, model_poll_seconds=0))
    with TestClient(app) as client:
        with app.state.session_factory() as session:
            create_user(session, "maria", "correct horse battery")
            create_user(session, "sam", "another long password")
            _, app.state.review_key = create_api_key(session, "tool", ["review"])
            _, app.state.classify_key = create_api_key(session, "crm", ["classify"])
        app.state.test_client = client
        yield app


def login(client: TestClient, user: str = "maria", password: str = "correct horse battery") -> str:
    response = client.post("/review/login", data={"username": user, "password": password}, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = client.get("/review").text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_signed_out_visitors_see_nothing_even_on_loopback(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    client.post("/classify", json={"text": UNSURE[0]})
    page = client.get("/review", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/review/login"
    assert client.get("/review/dashboard", follow_redirects=False).status_code == 303
    assert client.get("/review/items").status_code == 401
    assert client.get("/review/items", headers={"X-API-Key": app.state.classify_key}).status_code == 403
    listed = client.get("/review/items", headers={"X-API-Key": app.state.review_key})
    assert listed.status_code == 200 and listed.json()["count"] == 1


def test_sign_in_sets_a_safe_cookie_and_wrong_passwords_fail(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    bad = client.post("/review/login", data={"username": "maria", "password": "nope nope nope"})
    assert bad.status_code == 401 and "Wrong username or password" in bad.text
    good = client.post("/review/login", data={"username": "maria", "password": "correct horse battery"}, follow_redirects=False)
    cookie = good.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie  # plain http here


def test_forms_and_cookie_calls_need_the_csrf_token(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    client.post("/classify", json={"text": UNSURE[0]})
    token = login(client)
    item = client.get("/review/items").json()["items"][0]
    refused = client.post(f"/review/items/{item['id']}/decide", data={"csrf_token": "forged", "labels": ["negative"]})
    assert refused.status_code == 403
    assert client.post(f"/review/items/{item['id']}/claim").status_code == 403  # cookie without the header
    assert client.post(f"/review/items/{item['id']}/claim", headers={"X-CSRF-Token": token}).status_code == 200
    done = client.post(f"/review/items/{item['id']}/decide", data={"csrf_token": token, "labels": ["negative", "abusive"]},
                       follow_redirects=False)
    assert done.status_code == 303


def _session_payload(username: str, csrf: str) -> bytes:
    return base64.b64encode(json.dumps({"username": username, "csrf": csrf}).encode())


FORGED_COOKIES: dict[str, Callable[[str], str]] = {
    "one_character_changed": lambda real: real[:-1] + ("A" if not real.endswith("A") else "B"),
    "a_guessed_token": lambda _: secrets.token_urlsafe(32),
    "the_hash_the_server_stores": lambda real: hashlib.sha256(real.encode()).hexdigest(),
    "empty": lambda _: "",
    # The signed cookies of before server-side sessions: none of them signs anybody in any more.
    "old_signed_with_another_key": lambda _: TimestampSigner("not-the-secret").sign(_session_payload("maria", "kn0wn-c1")).decode(),
    "old_signed_with_the_raw_author_secret": lambda _: TimestampSigner("test-secret").sign(_session_payload("maria", "kn0wn-c1")).decode(),
    "the_old_hand_built_format": lambda _: URLSafeTimedSerializer(b"test-secret", salt="sift-session").dumps(
        {"u": "maria", "c": "kn0wn-c1"}),
}


@pytest.mark.parametrize("forge", FORGED_COOKIES.values(), ids=FORGED_COOKIES.keys())
def test_when_the_session_cookie_is_tampered_with_then_pages_ask_to_sign_in_and_the_api_refuses(
        app, forge: Callable[[str], str]) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    client.post("/classify", json={"text": UNSURE[0]})
    login(client)
    item_id = client.get("/review/items", headers={"X-API-Key": app.state.review_key}).json()["items"][0]["id"]
    forged = forge(client.cookies["sift_session"])
    client.cookies.clear()
    client.cookies.set("sift_session", forged)
    page = client.get("/review", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/review/login"
    assert client.get("/review/items").status_code == 401
    assert client.post(f"/review/items/{item_id}/claim", headers={"X-CSRF-Token": "kn0wn-c1"}).status_code == 401


@pytest.mark.parametrize(("base_url", "secure"), [("http://testserver", False), ("https://testserver", True)])
def test_the_session_cookie_is_strict_host_wide_for_12_hours_and_secure_over_tls(app, base_url: str,
                                                                                 secure: bool) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url=base_url)  # the fixture's client already ran the lifespan
    good = client.post("/review/login", data={"username": "maria", "password": "correct horse battery"}, follow_redirects=False)
    attributes = [part.strip().lower() for part in good.headers["set-cookie"].split(";")]
    assert attributes[0].startswith("sift_session=")
    assert {"path=/", "max-age=43200", "httponly", "samesite=strict"} <= set(attributes)
    assert ("secure" in attributes) is secure


def test_signing_in_starts_a_fresh_session_with_a_new_csrf_token(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    planted_token = login(client, "sam", "another long password")  # a session someone left in this browser
    planted_cookie = client.cookies["sift_session"]
    token = login(client)
    assert token != planted_token and client.cookies["sift_session"] != planted_cookie
    assert '<span class="who">maria' in client.get("/review").text
    assert client.post("/review/next", data={"csrf_token": planted_token}).status_code == 403
    assert client.post("/review/next", data={"csrf_token": token}, follow_redirects=False).status_code == 303


def test_sign_out_revokes_the_session_so_a_copy_of_the_cookie_no_longer_works(app) -> None:  # type: ignore[no-untyped-def]
    # Issue 12: the signed cookie of before kept working for its 12 hours after sign-out. The session is
    # now kept on the server and sign-out ends it there, so a copy taken before is refused.
    client: TestClient = app.state.test_client
    client.post("/classify", json={"text": UNSURE[0]})
    token = login(client)
    copy = client.cookies["sift_session"]
    item_id = client.get("/review/items").json()["items"][0]["id"]
    out = client.post("/review/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/review/login"
    cleared = out.headers["set-cookie"].lower()
    assert cleared.startswith('sift_session="";') and "max-age=0" in cleared
    assert client.cookies.get("sift_session") is None
    client.cookies.set("sift_session", copy)  # the copy taken before sign-out
    assert client.get("/review", follow_redirects=False).headers["location"] == "/review/login"
    assert client.post(f"/review/items/{item_id}/claim", headers={"X-CSRF-Token": token}).status_code == 401
    assert client.post("/review/next", data={"csrf_token": token}, follow_redirects=False).headers["location"] == "/review/login"


FORM_CALLS, API_CALLS = ["next", "pull", "decide", "logout"], ["api_claim", "api_decision", "api_pull"]
WRONG_TOKENS = {"empty": "", "wrong": "forged", "non_ascii": "\u00fcber-forged"}  # non-ASCII: a 403, never a 500
CSRF_CASES = [pytest.param(call, None, id=f"{call}-absent") for call in FORM_CALLS + API_CALLS] + [
    pytest.param(call, sent, id=f"{call}-{name}") for call in ("decide", "api_claim") for name, sent in WRONG_TOKENS.items()]


@pytest.mark.parametrize(("call", "sent"), CSRF_CASES)
def test_a_signed_in_post_without_the_right_csrf_token_is_refused(app, call: str, sent: str | None) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    record_id = client.post("/classify", json={"text": UNSURE[0]}).json()["record_id"]
    login(client)
    item_id = client.get("/review/items").json()["items"][0]["id"]
    form = {} if sent is None else {"csrf_token": sent}
    header = {} if sent is None else {"X-CSRF-Token": sent.encode("latin-1")}  # as a browser could send it
    answer = {
        "next": lambda: client.post("/review/next", data=form),
        "pull": lambda: client.post("/review/pull", data={**form, "record_id": record_id}),
        "decide": lambda: client.post(f"/review/items/{item_id}/decide", data={**form, "labels": ["negative"]}),
        "logout": lambda: client.post("/review/logout", data=form),
        "api_claim": lambda: client.post(f"/review/items/{item_id}/claim", headers=header),
        "api_decision": lambda: client.post(f"/review/items/{item_id}/decision", headers=header,
                                            json={"labels": ["negative"], "flags": []}),
        "api_pull": lambda: client.post(f"/review/records/{record_id}/pull", headers=header),
    }[call]()
    assert answer.status_code == 403, answer.text
    with app.state.session_factory() as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None and item.status == "open" and item.claimed_by is None
        assert session.scalars(select(AuditEntry).where(AuditEntry.event == "decision")).first() is None
    assert client.get("/review", follow_redirects=False).status_code == 200  # still signed in, sign-out included


def test_two_moderators_never_hold_the_same_item_and_claims_expire(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    client.post("/classify", json={"text": UNSURE[0]})
    key = {"X-API-Key": app.state.review_key}
    item = client.get("/review/items", headers=key).json()["items"][0]
    with app.state.session_factory() as session:
        from service.db.review import claim

        claim(session, item["id"], "maria")
        from service.db.review import ReviewError

        with pytest.raises(ReviewError, match="being reviewed by maria"):
            claim(session, item["id"], "sam")
        session.execute(update(ReviewItem).values(claimed_until=utcnow() - timedelta(minutes=1)))
        session.commit()
        assert claim(session, item["id"], "sam").claimed_by == "sam"
    assert client.post(f"/review/items/{item['id']}/claim", headers=key).status_code == 409


def test_a_decision_is_audited_closes_the_item_and_clears_the_author(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    key = {"X-API-Key": app.state.review_key}
    posted = client.post("/classify", json={"text": "you w@nkers, those clowns", "author_id": "u1", "channel": "facebook"}).json()
    with app.state.session_factory() as session:
        assert session.scalar(select(AuthorOffence).where(AuthorOffence.classification_id == posted["record_id"])) is not None
    pulled = client.post(f"/review/records/{posted['record_id']}/pull", headers=key).json()
    decision = client.post(f"/review/items/{pulled['id']}/decision", headers=key,
                           json={"labels": ["negative"], "flags": [], "action": "public_reply", "note": "banter, not abuse"})
    assert decision.status_code == 200, decision.text
    body = decision.json()
    assert body["model_said"]["labels"] == posted["labels"] and body["decided"]["labels"] == ["negative"]
    with app.state.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.event == "decision")).one()
        assert entry.actor == "key:tool" and entry.note == "banter, not abuse"
        assert session.get(ReviewItem, pulled["id"]).status == "decided"  # type: ignore[union-attr]
        offence = session.scalars(select(AuthorOffence).where(AuthorOffence.classification_id == posted["record_id"])).one()
        assert offence.cleared_at is not None and offence.cleared_by == "key:tool"
    again = client.post(f"/review/items/{pulled['id']}/decision", headers=key, json={"labels": [], "flags": []})
    assert again.status_code == 409
    bad = client.post(f"/review/items/{pulled['id']}/decision", headers=key, json={"labels": ["rude"], "flags": []})
    assert bad.status_code == 422


def test_the_queue_is_ordered_by_priority_then_deadline_and_filters(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    key = {"X-API-Key": app.state.review_key}
    client.post("/classify", json={"text": "those clowns again", "channel": "twitter"})
    client.post("/classify", json={"text": "those clowns want my tenancy ref 00458812", "channel": "facebook"})
    items = client.get("/review/items", headers=key).json()["items"]
    assert [i["priority"] for i in items] == sorted([i["priority"] for i in items], key=["urgent", "high", "medium", "normal",
                                                                                         "low"].index)
    assert [i["channel"] for i in client.get("/review/items?channel=twitter", headers=key).json()["items"]] == ["twitter"]
    assert client.get("/review/items?overdue=true", headers=key).json()["count"] == 0
    assert client.get("/review/items?label=spam", headers=key).json()["count"] == 0


@pytest.mark.parametrize("age", ["1e300", "inf", "nan", "-1", "87601"])
def test_an_impossible_age_filter_is_refused_naming_the_field_not_a_500(app, age: str) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    answer = client.get(f"/review/items?min_age_hours={age}", headers={"X-API-Key": app.state.review_key})
    assert answer.status_code == 422 and "min_age_hours" in answer.text
    login(client)
    page = client.get(f"/review?min_age_hours={age}")
    assert page.status_code == 422 and "older than" in page.text
    assert client.get("/review?min_age_hours=87600").status_code == 200  # ten years: the largest accepted


def test_text_kept_for_review_is_purged_after_the_retention_period(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    old = client.post("/classify", json={"text": UNSURE[1]}).json()
    new = client.post("/classify", json={"text": UNSURE[2]}).json()
    with app.state.session_factory() as session:
        session.execute(update(ClassificationRecord).where(ClassificationRecord.id == old["record_id"])
                        .values(created_at=utcnow() - timedelta(days=91)))
        session.commit()
        assert purge_expired(session, 90) == 1
        assert session.get(ClassificationRecord, old["record_id"]).text is None  # type: ignore[union-attr]
        assert session.get(ClassificationRecord, new["record_id"]).text == UNSURE[2]  # type: ignore[union-attr]


def test_pages_render_the_item_with_evidence_highlighted_and_the_dashboard(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    client.post("/classify", json={"text": "those clowns again"})
    login(client)
    queue = client.get("/review")
    assert "those clowns again" in queue.text
    item_id = re.search(r'href="/review/items/([^"]+)"', queue.text).group(1)  # type: ignore[union-attr]
    page = client.get(f"/review/items/{item_id}")
    assert '<mark title="abusive: rules:abuse.insult">clowns</mark>' in page.text
    dashboard = client.get("/review/dashboard")
    assert dashboard.status_code == 200 and "Review backlog" in dashboard.text and "<svg" in dashboard.text


def test_session_for_a_disabled_user_stops_working(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    login(client)
    with Session(app.state.engine) as session:
        from service.db.models import User

        session.execute(update(User).where(User.username == "maria").values(disabled=True))
        session.commit()
    assert client.get("/review", follow_redirects=False).status_code == 303


def test_pages_and_answers_carry_security_headers(app) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = app.state.test_client
    for response in (client.get("/review/login"), client.get("/healthz"), client.post("/classify", json={"text": "hi there"})):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
