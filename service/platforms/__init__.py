"""The platforms' webhooks, read into :class:`service.comments.Submission` items.

Each adapter (:mod:`service.platforms.meta`, :mod:`service.platforms.youtube`, :mod:`service.platforms.x`) is a
pure function from a decoded payload to a :class:`Parsed`: the comments to decide, each with the platform's own
key for the event, what the payload held that sift deliberately does not decide (a reaction, a removal, the
account's own post), and what it could not read. Nothing here touches HTTP or the database.

    parsed = meta.parse(json.loads(body))
    parsed.items[0].key           # "fb:1234567890_987654321:3f5a..." (the comment id and its words)
    parsed.items[0].submission    # Submission(text=..., channel="facebook", author_id=..., url=..., parent_id=...)
    parsed.unknown                # [Problem("entry[0].changes[1].field", "sift reads ... got 'ratings'")]

The event key is the platform's comment id and a short hash of the comment's words: a replay of the same
delivery, or the same comment polled twice, has the same key and is decided once; an edit that changes the
words (Meta's ``verb: edited``, a YouTube comment updated) is a new key and is decided again, since an edit is
where a benign comment can turn abusive.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import ValidationError

from service.comments import Submission, explain

Platform = Literal["meta", "youtube", "x"]
PLATFORMS: tuple[Platform, ...] = get_args(Platform)


@dataclass(frozen=True, slots=True)
class Problem:
    """A part of a payload sift could not read: where it is (a JSON path) and what was expected there."""

    where: str
    message: str


@dataclass(frozen=True, slots=True)
class Inbound:
    """One comment to decide, with the platform's key for it (unique per platform, see the module docstring)."""

    key: str
    submission: Submission


@dataclass(slots=True)
class Parsed:
    items: list[Inbound] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # why each deliberately skipped part was skipped
    unknown: list[Problem] = field(default_factory=list)

    def problem(self, where: str, message: str) -> None:
        self.unknown.append(Problem(where, message))


def event_key(prefix: str, comment_id: str, text: str) -> str:
    """The platform's comment id and the first 16 hex digits of the SHA-256 of its words."""
    return f"{prefix}:{comment_id}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def comment(parsed: Parsed, where: str, key_prefix: str, **fields: Any) -> None:
    """Add a comment to ``parsed``, or, when its fields do not make a valid submission (too long, say), a
    problem naming them: a comment sift cannot decide is kept for inspection, never dropped."""
    try:
        submission = Submission(**fields)
    except ValidationError as exc:
        parsed.problem(where, f"the comment cannot be decided as it is: {explain(exc)}")
        return
    assert submission.id is not None
    parsed.items.append(Inbound(event_key(key_prefix, submission.id, submission.text), submission))


def text_or_none(value: object) -> str | None:
    """A comment's words, or None when there are none (a photo alone, a sticker): nothing to classify."""
    return value if isinstance(value, str) and value.strip() else None


def unix_time(value: object) -> datetime | None:
    """A Unix time in seconds (or milliseconds, as some Meta fields carry it) as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    seconds = value / 1000 if value > 100_000_000_000 else value  # past 5138 in seconds: milliseconds
    return datetime.fromtimestamp(seconds, UTC)


_TAG = re.compile(r"<[^>]+>")


def plain_text(value: str) -> str:
    """HTML (YouTube's textDisplay in its default html format) as the words a reader sees."""
    return html.unescape(_TAG.sub("", re.sub(r"<br\s*/?>", "\n", value))).strip()


def member(value: dict[str, Any], key: str) -> dict[str, Any]:
    """``value[key]`` when it is an object, else an empty one (an optional part the platform left out)."""
    found = value.get(key)
    return found if isinstance(found, dict) else {}


def string_id(value: object) -> str | None:
    """A platform id as a string (they are numeric strings; a bare number is accepted and written out)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None

