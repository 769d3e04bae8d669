"""Where a comment lives, for the moderator: its link on the platform, the post it answers, and what else its
author sent to this queue.

The author is known only by the keyed hash of their platform id and channel (``author_hash``): the history is
"the other comments with the same hash", and nothing here can show who the author is.

Example::

    platform_link("https://www.facebook.com/123_456")     # the link, or None for anything but http(s)
    author_history(session, [record])[record.id]          # the author's last comments, newest first
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from model.labels import FLAGS
from service.db.models import AuditEntry, ClassificationRecord, ReviewItem

HISTORY_LENGTH = 5  # the author's last few comments beside the one in review: enough to see a pattern


def web_address(url: str) -> bool:
    """Whether ``url`` is an http or https address with a host (never ``javascript:``, ``data:`` or a relative
    path): what a moderator's page links to and what an events subscriber may be."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def platform_link(url: str | None) -> str | None:
    """``url`` if it is a web address, else None: a moderator's page links only to the web, whatever an adapter
    or an old row stored."""
    if not url:
        return None
    return url.strip() if web_address(url.strip()) else None


@dataclass(frozen=True)
class Decision:
    """A moderator's latest decision on an item, as the audit log has it."""

    actor: str
    at: datetime
    labels: list[str]
    flags: list[str]
    action: str | None


@dataclass(frozen=True)
class HistoryEntry:
    """One other comment by the same author: when, what the model said, what the moderator decided, its item."""

    record_id: str
    at: datetime
    channel: str | None
    labels: list[str]
    flags: list[str]
    item_id: str | None  # None: decided without review, never in the queue
    status: str | None  # open, decided, or None (never in the queue)
    decision: Decision | None
    redacted_text: str | None


def author_history(session: Session, records: Sequence[ClassificationRecord],
                   length: int = HISTORY_LENGTH) -> dict[str, list[HistoryEntry]]:
    """For each record, its author's ``length`` latest other comments, newest first (``[]`` when the author is
    unknown). One query for all the records' authors, so a page of the queue costs three queries, not one per item."""
    authors = {r.author_hash for r in records if r.author_hash}
    if not authors:
        return {r.id: [] for r in records}
    # Per author, the latest ``length`` + as many as the most of the asked records one author has: after leaving
    # each asked record out of its own history, ``length`` remain.
    per_author = length + max(Counter(r.author_hash for r in records if r.author_hash).values())
    rank = func.row_number().over(partition_by=ClassificationRecord.author_hash,
                                  order_by=(ClassificationRecord.created_at.desc(), ClassificationRecord.id)).label("rank")
    ranked = select(ClassificationRecord.id, rank).where(ClassificationRecord.author_hash.in_(authors)).subquery()
    rows = list(session.execute(
        select(ClassificationRecord, ReviewItem).join(ranked, ranked.c.id == ClassificationRecord.id)
        .outerjoin(ReviewItem, ReviewItem.classification_id == ClassificationRecord.id)
        .where(ranked.c.rank <= per_author).order_by(ClassificationRecord.created_at.desc(), ClassificationRecord.id)).all())
    latest = _latest_decisions(session, [rec.id for rec, _ in rows])
    history: dict[str, list[HistoryEntry]] = {}
    for record in records:
        same = [(rec, item) for rec, item in rows if rec.author_hash == record.author_hash and rec.id != record.id] \
            if record.author_hash else []
        history[record.id] = [_entry(rec, item, latest.get(rec.id)) for rec, item in same[:length]]
    return history


def _latest_decisions(session: Session, record_ids: Sequence[str]) -> dict[str, Decision]:
    latest: dict[str, Decision] = {}
    if not record_ids:
        return latest
    entries = session.scalars(select(AuditEntry).where(AuditEntry.event == "decision",
                                                       AuditEntry.classification_id.in_(list(record_ids)))
                              .order_by(AuditEntry.at))
    for entry in entries:  # oldest first: the latest decision wins
        decided = entry.decided or {}
        latest[entry.classification_id or ""] = Decision(entry.actor, entry.at, list(decided.get("labels", [])),
                                                         list(decided.get("flags", [])), decided.get("action"))
    return latest


def _entry(rec: ClassificationRecord, item: ReviewItem | None, decision: Decision | None) -> HistoryEntry:
    return HistoryEntry(record_id=rec.id, at=rec.posted_at or rec.created_at, channel=rec.channel, labels=list(rec.labels or []),
                        flags=[f for f in FLAGS if (rec.flags or {}).get(f) is True], item_id=item.id if item else None,
                        status=item.status if item else None, decision=decision, redacted_text=rec.redacted_text)
