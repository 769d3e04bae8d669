"""Meta Graph API webhooks: a Facebook Page's ``feed`` changes and an Instagram account's ``comments``.

What Meta sends (developers.facebook.com/docs/graph-api/webhooks/getting-started, …/reference/page,
…/reference/instagram, and the Instagram platform's webhook examples): a POST of
``{"object": "page" | "instagram", "entry": [{"id": <page or account id>, "time": …, "changes": [{"field": …,
"value": {…}}]}]}``, signed in ``X-Hub-Signature-256`` (see :func:`signature_ok`).

- A Page ``feed`` change with ``item: "comment"``: ``comment_id``, ``post_id``, ``parent_id`` (the post for a
  comment, another comment for a reply), ``message``, ``from {id, name}``, ``created_time`` (Unix seconds),
  ``verb`` ``add`` or ``edited`` (decided), ``remove``, ``hide``… (ignored: nothing new to read).
- An Instagram ``comments`` (or ``live_comments``) change: ``id``, ``text``, ``from {id, username}``,
  ``media {id, media_product_type}``, ``parent_id`` for a reply. It carries no posted time (sift uses the time it
  received it) and no address: Instagram's links use the media's shortcode, which the notification lacks.

Anything else Meta documents for the feed (a reaction, a share, a status) is ignored with its reason; a field,
item or verb Meta does not document is unknown, and the payload is kept for inspection.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from service.platforms import Parsed, comment, member, string_id, text_or_none, unix_time

SIGNATURE_HEADER = "X-Hub-Signature-256"

# The values of a feed change's `item` and `verb` in Meta's Page webhooks reference.
FEED_ITEMS = frozenset({
    "album", "address", "comment", "connection", "coupon", "event", "experience", "group", "group_message", "interest",
    "like", "link", "mention", "milestone", "note", "page", "picture", "platform-story", "photo", "photo-album", "post",
    "profile", "question", "rating", "reaction", "relationship-status", "share", "status", "story", "timeline cover",
    "tag", "video"})
FEED_VERBS = frozenset({"add", "block", "edit", "edited", "delete", "follow", "hide", "mute", "remove", "unblock",
                        "unhide", "update"})
DECIDED_VERBS = frozenset({"add", "edited", "edit"})  # new words to read; the rest change nothing sift would decide
FIELDS = {"page": ("feed",), "instagram": ("comments", "live_comments")}


def signature(secret: str, body: bytes) -> str:
    """The header Meta sends: ``sha256=`` and the hex HMAC-SHA256 of the raw body, keyed with the app secret.
    Always over the bytes received, never over re-encoded JSON (Meta signs its own escaped encoding)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is Meta's signature of ``body`` (compared in constant time, as bytes: a header
    can hold any character)."""
    if header is None:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().lower().encode("utf-8", "replace"))


def parse(payload: Any) -> Parsed:
    parsed = Parsed()
    if not isinstance(payload, dict) or payload.get("object") not in FIELDS or not isinstance(payload.get("entry"), list):
        parsed.problem("body", 'expected a Meta webhook: {"object": "page" or "instagram", "entry": [...]}; '
                               f"got {_shape(payload)}")
        return parsed
    kind = payload["object"]
    for i, entry in enumerate(payload["entry"]):
        where = f"entry[{i}]"
        if not isinstance(entry, dict):
            parsed.problem(where, "expected an object with id, time and changes")
            continue
        if "messaging" in entry and "changes" not in entry:
            parsed.ignored.append(f"{where}: a Messenger message, not a comment")
            continue
        changes = entry.get("changes")
        if not isinstance(changes, list):
            parsed.problem(f"{where}.changes", "expected a list of {\"field\", \"value\"} changes")
            continue
        for j, change in enumerate(changes):
            here = f"{where}.changes[{j}]"
            field = change.get("field") if isinstance(change, dict) else None
            value = change.get("value") if isinstance(change, dict) else None
            if field not in FIELDS[kind] or not isinstance(value, dict):
                parsed.problem(f"{here}.field", f"sift reads the {' or '.join(FIELDS[kind])} field of {kind} webhooks, "
                               f"with an object as value; got field {field!r} (unsubscribe from fields sift does not "
                               "read in the app dashboard)")
            elif kind == "page":
                _feed(parsed, here, string_id(entry.get("id")), value)
            else:
                _instagram(parsed, here, string_id(entry.get("id")), value)
    return parsed


def _feed(parsed: Parsed, where: str, page_id: str | None, value: dict[str, Any]) -> None:
    item, verb = value.get("item"), value.get("verb")
    if item not in FEED_ITEMS or verb not in FEED_VERBS:
        parsed.problem(f"{where}.value", f"a feed change's item is one of Meta's documented items and its verb one of "
                       f"{sorted(FEED_VERBS)}; got item {item!r}, verb {verb!r}")
        return
    if item != "comment":
        parsed.ignored.append(f"{where}: a feed {item} ({verb}), not a comment")
        return
    if verb not in DECIDED_VERBS:
        parsed.ignored.append(f"{where}: a comment's {verb}, no new words to decide")
        return
    comment_id, post_id = string_id(value.get("comment_id")), string_id(value.get("post_id"))
    if comment_id is None or post_id is None:
        parsed.problem(f"{where}.value", "a feed comment carries comment_id and post_id (numeric strings)")
        return
    author = member(value, "from")
    if page_id is not None and string_id(author.get("id")) == page_id:
        parsed.ignored.append(f"{where}: the Page's own comment")
        return
    text = text_or_none(value.get("message"))
    if text is None:
        parsed.ignored.append(f"{where}: a comment without words (a photo or sticker alone)")
        return
    parent = string_id(value.get("parent_id")) or post_id
    post = member(value, "post")
    comment(parsed, where, "fb", text=text, channel="facebook", author_id=string_id(author.get("id")), id=comment_id,
            posted_at=unix_time(value.get("created_time")), url=_facebook_url(post_id, comment_id),
            parent_id=parent, parent_text=text_or_none(post.get("message")) if parent == post_id else None)


def _facebook_url(post_id: str, comment_id: str) -> str | None:
    """The comment's address as Facebook shows it: the Page's post with ``?comment_id=`` (ids are
    ``{page}_{post}`` and ``{post}_{comment}``); None when the ids do not have that form."""
    page, _, post = post_id.partition("_")
    _, _, local = comment_id.partition("_")
    if not (page.isdigit() and post.isdigit() and local.isdigit()):
        return None
    return f"https://www.facebook.com/{page}/posts/{post}?comment_id={local}"


def _instagram(parsed: Parsed, where: str, account_id: str | None, value: dict[str, Any]) -> None:
    comment_id = string_id(value.get("id"))
    media = member(value, "media")
    if comment_id is None or string_id(media.get("id")) is None:
        parsed.problem(f"{where}.value", "an Instagram comment carries id and media.id (numeric strings)")
        return
    author = member(value, "from")
    if account_id is not None and string_id(author.get("id")) == account_id:
        parsed.ignored.append(f"{where}: the account's own comment")
        return
    text = text_or_none(value.get("text"))
    if text is None:
        parsed.ignored.append(f"{where}: a comment without words")
        return
    comment(parsed, where, "ig", text=text, channel="instagram", author_id=string_id(author.get("id")), id=comment_id,
            parent_id=string_id(value.get("parent_id")) or string_id(media.get("id")))


def _shape(payload: Any) -> str:
    if isinstance(payload, dict):
        return f"an object with keys {sorted(payload)[:8]}" + (f" and object {payload.get('object')!r}" if "object" in payload else "")
    return f"a JSON {type(payload).__name__}"
