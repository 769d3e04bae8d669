"""Meta's webhooks: the verification handshake, X-Hub-Signature-256, Page feed comments and Instagram comments,
replays, edits, and payloads sift cannot read (kept)."""

from __future__ import annotations

import hashlib
import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from service.logs import redact
from tests.api.platforms import (
    META_SECRET,
    META_VERIFY,
    ClassificationRecord,
    InboundEvent,
    UnknownPayload,
    count,
    fixture,
    kept,
    platform_client,
    records,
)


def signed(body: bytes, secret: str = META_SECRET) -> dict[str, str]:
    """The headers Meta sends: the hex HMAC-SHA256 of the raw body keyed with the App Secret, after sha256=."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def test_the_verification_request_is_answered_with_the_challenge_when_the_token_matches(tmp_path: Path) -> None:
    with platform_client(tmp_path) as client:
        answer = client.get("/webhooks/meta", params={"hub.mode": "subscribe", "hub.challenge": "1158201444",
                                                      "hub.verify_token": META_VERIFY})
        wrong = client.get("/webhooks/meta", params={"hub.mode": "subscribe", "hub.challenge": "1158201444",
                                                     "hub.verify_token": "meatyhamhock"})
        missing = client.get("/webhooks/meta", params={"hub.mode": "subscribe"})
    assert (answer.status_code, answer.text, answer.headers["content-type"].split(";")[0]) == (200, "1158201444", "text/plain")
    assert wrong.status_code == 403 and "SIFT_META_VERIFY_TOKEN" in wrong.json()["error"]
    assert missing.status_code == 422 and missing.headers["content-type"] == "application/json"  # as the spec says


def test_a_method_the_path_does_not_serve_names_both_of_the_methods_it_does(tmp_path: Path) -> None:
    with platform_client(tmp_path) as client:
        answers = [client.request(method, path) for method in ("OPTIONS", "DELETE") for path in ("/webhooks/meta", "/webhooks/x")]
        only_post = client.delete("/classify")
    assert all(a.status_code == 405 and a.headers["allow"] == "GET, POST" for a in answers), [a.headers for a in answers]
    assert only_post.status_code == 405 and only_post.headers["allow"] == "POST"


def test_a_verify_token_in_a_request_line_is_hidden_from_the_logs() -> None:
    line = f"GET /webhooks/meta?hub.mode=subscribe&hub.challenge=12&hub.verify_token={META_VERIFY} HTTP/1.1"
    assert META_VERIFY not in redact(line) and "hub.challenge=12" in redact(line)


def test_page_feed_comments_are_decided_with_their_author_time_parent_and_link(tmp_path: Path) -> None:
    body = fixture("meta_page_feed.json")
    with platform_client(tmp_path) as client:
        answer = client.post("/webhooks/meta", content=body, headers=signed(body))
        stored = records(client, "facebook")
    assert answer.status_code == 200, answer.text
    receipt = answer.json()
    assert (receipt["decided"], receipt["already_seen"]) == (2, 0)
    assert any("reaction" in why for why in receipt["ignored"]) and any("Page's own" in why for why in receipt["ignored"])
    assert [r.external_id for r in stored] == ["880011223344556_1209988776655443", "880011223344556_1209988776655499"]
    first, reply = stored
    assert first.posted_at is not None and first.posted_at.isoformat() == "2026-12-02T09:59:00+00:00"
    assert first.parent_id == "104857600012345_880011223344556"  # the post
    assert reply.parent_id == "880011223344556_1209988776655443"  # the comment it answers
    assert first.url == "https://www.facebook.com/104857600012345/posts/880011223344556?comment_id=1209988776655443"
    assert first.author_hash is not None and first.author_hash != reply.author_hash
    assert {item["record_id"] for item in receipt["items"]} == {r.id for r in stored}


def test_a_replayed_delivery_decides_nothing_twice(tmp_path: Path, database_url: str) -> None:
    body = fixture("meta_page_feed.json")
    with platform_client(tmp_path, database_url=database_url) as client:
        first = client.post("/webhooks/meta", content=body, headers=signed(body)).json()
        before = count(client, ClassificationRecord)
        again = client.post("/webhooks/meta", content=body, headers=signed(body))
        after = count(client, ClassificationRecord)
        events = count(client, InboundEvent, status="decided")
    assert again.status_code == 200
    assert (again.json()["decided"], again.json()["already_seen"]) == (0, 2)
    assert (before, after, events) == (2, 2, 2)
    assert {i["record_id"] for i in again.json()["items"]} == {i["record_id"] for i in first["items"]}


def test_the_same_delivery_arriving_several_times_at_once_is_decided_once(tmp_path: Path, database_url: str) -> None:
    body = fixture("meta_page_feed.json")
    with platform_client(tmp_path, database_url=database_url) as client:
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(lambda _: client.post("/webhooks/meta", content=body, headers=signed(body)), range(6)))
        stored, events = count(client, ClassificationRecord), count(client, InboundEvent)
    assert [a.status_code for a in answers] == [200] * 6
    assert sum(a.json()["decided"] for a in answers) == 2 and sum(a.json()["already_seen"] for a in answers) == 10
    assert (stored, events) == (2, 2)


def test_an_edited_comment_is_decided_again_and_its_replay_is_not(tmp_path: Path) -> None:
    """An edit is where a benign comment turns abusive: new words are a new event (one record each version)."""
    original, edited = fixture("meta_page_feed.json"), fixture("meta_page_feed_edited.json")
    with platform_client(tmp_path) as client:
        client.post("/webhooks/meta", content=original, headers=signed(original))
        answers = [client.post("/webhooks/meta", content=edited, headers=signed(edited)).json() for _ in range(2)]
        versions = count(client, ClassificationRecord, external_id="880011223344556_1209988776655443")
    assert [(a["decided"], a["already_seen"]) for a in answers] == [(1, 0), (0, 1)]
    assert versions == 2


def test_a_removed_comment_is_acknowledged_and_decides_nothing(tmp_path: Path) -> None:
    body = fixture("meta_page_feed_removed.json")
    with platform_client(tmp_path) as client:
        answer = client.post("/webhooks/meta", content=body, headers=signed(body))
        stored = count(client, ClassificationRecord)
    assert answer.status_code == 200 and answer.json()["decided"] == 0 and "remove" in answer.json()["ignored"][0]
    assert stored == 0


def test_instagram_comments_are_decided_with_the_media_or_comment_as_parent(tmp_path: Path) -> None:
    body = fixture("meta_instagram_comments.json")
    with platform_client(tmp_path) as client:
        answer = client.post("/webhooks/meta", content=body, headers=signed(body))
        stored = {r.external_id: r for r in records(client, "instagram")}
    assert answer.status_code == 200 and answer.json()["decided"] == 2
    assert stored["17919600000000021"].parent_id == "18172100000000011"  # the media
    assert stored["17919600000000022"].parent_id == "17919600000000021"  # the comment it answers
    assert all(r.url is None for r in stored.values())  # the notification carries no shortcode to link with


BAD_SIGNATURES: list[dict[str, Any]] = [
    {"Content-Type": "application/json"},  # no signature
    {"X-Hub-Signature-256": "sha256=" + "0" * 64},  # a wrong one
    {"X-Hub-Signature-256": signed(b"{}")["X-Hub-Signature-256"]},  # another body's
    {"X-Hub-Signature-256": signed(b"", secret="not-the-app-secret")["X-Hub-Signature-256"]},
    {"X-Hub-Signature-256": "sha1=" + hashlib.sha1(META_SECRET.encode()).hexdigest()},  # the old header's scheme
    {"X-Hub-Signature-256": "sha256=\u00e9t\u00e9".encode("latin-1")},  # not even ASCII
]


def test_a_bad_signature_is_refused_and_the_body_is_not_kept(tmp_path: Path) -> None:
    """Not kept: an unsigned body can come from anyone, and keeping it would let anyone fill the database."""
    body = fixture("meta_page_feed.json")
    with platform_client(tmp_path) as client:
        answers = [client.post("/webhooks/meta", content=body, headers=headers) for headers in BAD_SIGNATURES]
        stored, unknown = count(client, ClassificationRecord), count(client, UnknownPayload)
    assert [a.status_code for a in answers] == [401] * len(BAD_SIGNATURES)
    assert all("X-Hub-Signature-256" in a.json()["error"] for a in answers)
    assert (stored, unknown) == (0, 0)


def test_without_an_app_secret_the_endpoint_is_off_and_says_which_setting_to_set(tmp_path: Path) -> None:
    body = fixture("meta_page_feed.json")
    with platform_client(tmp_path, meta_app_secret="", meta_verify_token="") as client:
        post = client.post("/webhooks/meta", content=body, headers=signed(body))
        verify = client.get("/webhooks/meta", params={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "x"})
    assert post.status_code == 404 and "SIFT_META_APP_SECRET" in post.json()["error"]
    assert verify.status_code == 404 and "SIFT_META_VERIFY_TOKEN" in verify.json()["error"]


def test_a_field_sift_does_not_read_is_refused_clearly_and_kept_byte_for_byte(tmp_path: Path, database_url: str) -> None:
    body = fixture("meta_page_ratings.json")
    with platform_client(tmp_path, database_url=database_url) as client:
        answer = client.post("/webhooks/meta", content=body, headers=signed(body))
        again = client.post("/webhooks/meta", content=body, headers=signed(body))  # Meta retries a refused delivery
        rows = kept(client)
    assert answer.status_code == 422
    refused = answer.json()
    assert refused["details"][0]["field"] == "entry[0].changes[0].field" and "'ratings'" in refused["details"][0]["message"]
    assert again.json()["kept"] == refused["kept"]
    assert len(rows) == 1
    assert (rows[0].id, rows[0].platform, rows[0].body, rows[0].times) == (refused["kept"], "meta", body, 2)
    assert "ratings" in rows[0].reason


def test_known_parts_of_a_partly_unreadable_payload_are_decided_and_the_whole_body_kept(tmp_path: Path) -> None:
    payload = json.loads(fixture("meta_page_feed.json"))
    payload["entry"][0]["changes"].append({"field": "feed", "value": {"item": "hologram", "verb": "beam"}})
    body = json.dumps(payload).encode()
    with platform_client(tmp_path) as client:
        answer = client.post("/webhooks/meta", content=body, headers=signed(body))
        rows, stored = kept(client), count(client, ClassificationRecord)
    assert answer.status_code == 422
    assert answer.json()["receipt"]["decided"] == 2 and stored == 2
    assert answer.json()["details"][0]["field"] == "entry[0].changes[4].value"
    assert [r.body for r in rows] == [body]


def test_a_signed_body_that_is_not_json_is_kept(tmp_path: Path) -> None:
    body = b"object=page&entry=oops"
    with platform_client(tmp_path) as client:
        answer = client.post("/webhooks/meta", content=body, headers=signed(body))
        rows = kept(client)
    assert answer.status_code == 422 and "expected JSON" in answer.json()["details"][0]["message"]
    assert [r.body for r in rows] == [body]


def test_a_comment_too_long_to_decide_is_kept_not_dropped(tmp_path: Path) -> None:
    payload = json.loads(fixture("meta_page_feed.json"))
    payload["entry"][0]["changes"] = payload["entry"][0]["changes"][:1]
    payload["entry"][0]["changes"][0]["value"]["message"] = "word " * 2_500
    body = json.dumps(payload).encode()
    with platform_client(tmp_path) as client:
        answer = client.post("/webhooks/meta", content=body, headers=signed(body))
        rows = kept(client)
    assert answer.status_code == 422 and "text" in answer.json()["details"][0]["message"]
    assert len(rows) == 1 and rows[0].body == body


def test_a_delivery_that_could_not_be_stored_is_decided_when_the_platform_retries(tmp_path: Path) -> None:
    """Neither the database nor the outbox took the rows: 503, the claims are let go, and Meta's retry decides them."""
    from api.deps import get_store
    from api.storage import NotStored

    class Refusing:
        async def save(self, rows: object) -> str:
            raise NotStored("the database is away, and the local outbox cannot be written")

    body = fixture("meta_page_feed.json")
    with platform_client(tmp_path) as client:
        client.app.dependency_overrides[get_store] = lambda: Refusing()  # type: ignore[attr-defined]
        refused = client.post("/webhooks/meta", content=body, headers=signed(body))
        claims = count(client, InboundEvent)
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
        retried = client.post("/webhooks/meta", content=body, headers=signed(body))
        stored = count(client, ClassificationRecord)
    assert refused.status_code == 503 and claims == 0
    assert retried.status_code == 200 and retried.json()["decided"] == 2 and stored == 2
