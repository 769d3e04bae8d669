"""X (Twitter) Account Activity API events: ``tweet_create_events``, with the CRC challenge.

What X sends (developer.x.com …/account-activity-api/guides/securing-webhooks and
…/account-activity-data-objects): a GET with ``crc_token`` that must be answered with
``{"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret, crc_token))}`` (see :func:`crc_response`);
then POSTs signed in ``x-twitter-webhooks-signature`` (``sha256=`` and the base64 HMAC-SHA256 of the body with the
same secret), each ``{"for_user_id": <the subscribed account>, "tweet_create_events": [Tweet, …]}`` (or another
activity: likes, follows, direct messages, deletions…, which sift ignores).

A Tweet (v1.1 object model): ``id_str``, ``text`` (or ``full_text``; ``extended_tweet.full_text`` when
``truncated``), ``user {id_str, screen_name}``, ``created_at`` ("Wed Oct 10 20:19:24 +0000 2018"),
``in_reply_to_status_id_str``, ``quoted_status``. The account's own posts and plain retweets (someone else's words,
decided when they mentioned the account) are ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from service.platforms import Parsed, comment, member, string_id, text_or_none

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
TWEET_TIME = "%a %b %d %H:%M:%S %z %Y"
# Activities the Account Activity API delivers beside tweet_create_events, and the keys that travel with them.
OTHER_ACTIVITIES = frozenset({
    "favorite_events", "follow_events", "unfollow_events", "block_events", "unblock_events", "mute_events",
    "unmute_events", "user_event", "direct_message_events", "direct_message_indicate_typing_events",
    "direct_message_mark_read_events", "tweet_delete_events"})
CONTEXT_KEYS = frozenset({"for_user_id", "user_has_blocked", "is_blocked_by", "users", "apps"})


def _digest(secret: str, message: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def crc_response(secret: str, crc_token: str) -> dict[str, str]:
    """The answer to X's challenge-response check."""
    return {"response_token": _digest(secret, crc_token.encode())}


def signature(secret: str, body: bytes) -> str:
    return _digest(secret, body)


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    if header is None:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode("utf-8", "replace"))


def parse(payload: Any) -> Parsed:
    parsed = Parsed()
    if not isinstance(payload, dict) or string_id(payload.get("for_user_id")) is None:
        parsed.problem("body", "expected an Account Activity event: {\"for_user_id\": ..., \"tweet_create_events\": [...]} "
                               "(or another activity)")
        return parsed
    account = string_id(payload["for_user_id"])
    for key in sorted(set(payload) - CONTEXT_KEYS):
        if key in OTHER_ACTIVITIES:
            parsed.ignored.append(f"{key}: not a post sift decides")
        elif key != "tweet_create_events":
            parsed.problem(key, f"not an Account Activity key sift knows; expected tweet_create_events or one of "
                                f"{sorted(OTHER_ACTIVITIES)}")
    tweets = payload.get("tweet_create_events", [])
    if not isinstance(tweets, list):
        parsed.problem("tweet_create_events", "expected a list of Tweet objects")
        return parsed
    for i, tweet in enumerate(tweets):
        _tweet(parsed, f"tweet_create_events[{i}]", account, tweet)
    return parsed


def _tweet(parsed: Parsed, where: str, account: str | None, tweet: Any) -> None:
    user = tweet.get("user") if isinstance(tweet, dict) else None
    tweet_id = string_id(tweet.get("id_str")) if isinstance(tweet, dict) else None
    if not isinstance(user, dict) or tweet_id is None:
        parsed.problem(where, "a Tweet carries id_str and user {id_str, screen_name}")
        return
    assert isinstance(tweet, dict)
    author = string_id(user.get("id_str"))
    if author is not None and author == account:
        parsed.ignored.append(f"{where}: the account's own post")
        return
    if isinstance(tweet.get("retweeted_status"), dict):
        parsed.ignored.append(f"{where}: a retweet (someone else's words)")
        return
    text = _text(tweet)
    if text is None:
        parsed.ignored.append(f"{where}: a post without words")
        return
    quoted = tweet.get("quoted_status") if isinstance(tweet.get("quoted_status"), dict) else None
    parent = string_id(tweet.get("in_reply_to_status_id_str")) or (string_id(quoted.get("id_str")) if quoted else None)
    screen_name = user.get("screen_name")
    comment(parsed, where, "x", text=text, channel="twitter", author_id=author, id=tweet_id,
            posted_at=_posted(tweet.get("created_at")),
            url=f"https://twitter.com/{screen_name}/status/{tweet_id}" if isinstance(screen_name, str) and screen_name.isascii()
            and screen_name.replace("_", "").isalnum() else None,
            parent_id=parent, parent_text=_text(quoted) if quoted and not tweet.get("in_reply_to_status_id_str") else None)


def _text(tweet: dict[str, Any]) -> str | None:
    extended = member(tweet, "extended_tweet")
    return text_or_none(extended.get("full_text")) or text_or_none(tweet.get("full_text")) or text_or_none(tweet.get("text"))


def _posted(value: Any) -> datetime | None:
    """Twitter's ``created_at`` ("Wed Oct 10 20:19:24 +0000 2018"); None when it is not in that form."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, TWEET_TIME)
    except ValueError:
        return None
