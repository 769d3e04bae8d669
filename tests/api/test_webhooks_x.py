"""X's account activity webhooks: the CRC challenge, x-twitter-webhooks-signature, tweet_create_events, replays and
activities sift does not know (kept)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from tests.api.platforms import X_SECRET, ClassificationRecord, UnknownPayload, count, fixture, kept, platform_client, records


def x_signed(body: bytes, secret: str = X_SECRET) -> dict[str, str]:
    """X's header: sha256= and the base64 HMAC-SHA256 of the body, keyed with the consumer secret."""
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"x-twitter-webhooks-signature": f"sha256={digest}", "Content-Type": "application/json"}


def test_the_crc_is_answered_with_the_token_signed_by_the_consumer_secret(tmp_path: Path) -> None:
    token = "9b4507b3-9040-4669-9ca3-6b94edb50553"
    expected = "sha256=" + base64.b64encode(hmac.new(X_SECRET.encode(), token.encode(), hashlib.sha256).digest()).decode()
    with platform_client(tmp_path) as client:
        answer = client.get("/webhooks/x", params={"crc_token": token})
        missing = client.get("/webhooks/x")
    assert answer.status_code == 200 and answer.json() == {"response_token": expected}
    assert missing.status_code == 422


def test_mentions_replies_and_quotes_are_decided_and_the_accounts_own_posts_are_not(tmp_path: Path) -> None:
    body = fixture("x_tweet_create_events.json")
    with platform_client(tmp_path) as client:
        answer = client.post("/webhooks/x", content=body, headers=x_signed(body))
        stored = {r.external_id: r for r in records(client, "twitter")}
    assert answer.status_code == 200, answer.text
    assert answer.json()["decided"] == 3
    assert {"tweet_create_events[3]: the account's own post", "tweet_create_events[4]: a retweet (someone else's words)"} \
        == set(answer.json()["ignored"])
    mention, reply, quote = (stored[i] for i in ("1995000000000000101", "1995000000000000102", "1995000000000000103"))
    assert mention.posted_at is not None and mention.posted_at.isoformat() == "2026-11-30T14:05:12+00:00"
    assert mention.url == "https://twitter.com/a_tenant_77/status/1995000000000000101" and mention.parent_id is None
    assert reply.parent_id == "1994000000000000050"
    assert quote.parent_id == "1994000000000000060"
    # The extended tweet's full text was decided, not the truncated one: its end is in the stored hash.
    assert reply.text_sha256 == hashlib.sha256(
        b"@ExampleHomes Damp is back in the bedroom for the fourth time this year and the mould is spreading across the "
        b"ceiling. When is someone actually coming out?").hexdigest()


def test_a_replayed_delivery_decides_nothing_twice(tmp_path: Path) -> None:
    body = fixture("x_tweet_create_events.json")
    with platform_client(tmp_path) as client:
        answers = [client.post("/webhooks/x", content=body, headers=x_signed(body)).json() for _ in range(3)]
        stored = count(client, ClassificationRecord)
    assert [(a["decided"], a["already_seen"]) for a in answers] == [(3, 0), (0, 3), (0, 3)]
    assert stored == 3


def test_other_activities_are_acknowledged_and_unknown_ones_kept(tmp_path: Path) -> None:
    likes, unknown = fixture("x_favorite_events.json"), fixture("x_unknown_activity.json")
    with platform_client(tmp_path) as client:
        liked = client.post("/webhooks/x", content=likes, headers=x_signed(likes))
        refused = client.post("/webhooks/x", content=unknown, headers=x_signed(unknown))
        rows = kept(client)
    assert liked.status_code == 200 and liked.json()["ignored"] == ["favorite_events: not a post sift decides"]
    assert refused.status_code == 422 and refused.json()["details"][0]["field"] == "tweet_edit_events"
    assert [(r.platform, r.body) for r in rows] == [("x", unknown)]


def test_a_bad_signature_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    body = fixture("x_tweet_create_events.json")
    with platform_client(tmp_path) as client:
        answers = [client.post("/webhooks/x", content=body, headers=headers) for headers in (
            {}, x_signed(body, secret="another-app"), x_signed(b"{}"),
            {"x-twitter-webhooks-signature": x_signed(body)["x-twitter-webhooks-signature"].replace("sha256=", "sha1=")})]
        stored, unknown = count(client, ClassificationRecord), count(client, UnknownPayload)
    assert [a.status_code for a in answers] == [401] * 4
    assert (stored, unknown) == (0, 0)


def test_without_a_consumer_secret_the_endpoint_is_off_and_says_which_setting_to_set(tmp_path: Path) -> None:
    body = fixture("x_tweet_create_events.json")
    with platform_client(tmp_path, x_consumer_secret="") as client:
        crc = client.get("/webhooks/x", params={"crc_token": "abc"})
        post = client.post("/webhooks/x", content=body, headers=x_signed(body))
    assert crc.status_code == post.status_code == 404
    assert "SIFT_X_CONSUMER_SECRET" in crc.json()["error"] and "SIFT_X_CONSUMER_SECRET" in post.json()["error"]
