"""The review queue: enqueue, list, claim (exclusively, with expiry), decide (with an audit entry), purge.

Claims are a compare-and-set ``UPDATE`` on the row, so two moderators can never hold the same
item, under any number of API workers; on PostgreSQL the next item is picked with
``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent claimers do not queue behind each other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from model.labels import FLAGS, LABELS, PRIORITY_RANK, REMOVAL_REASONS
from service.db.models import AuditEntry, AuthorOffence, ClassificationRecord, ReviewItem, utcnow
from service.db.offences import clear_offences, record_offences
from service.events import decision_made

CLAIM_MINUTES = 10


class ReviewError(RuntimeError):
    """A review operation was refused; the message says why. The web app maps each kind to its status."""


class ReviewNotFound(ReviewError):  # noqa: N818 - read as "review: not found"
    """No such item or classification."""


class ReviewConflict(ReviewError):  # noqa: N818
    """Someone else holds the item, or it is already decided."""


class ReviewInvalid(ReviewError):  # noqa: N818
    """The decision names labels or flags that do not exist."""


def enqueue(session: Session, record: ClassificationRecord, *, origin: str = "uncertain") -> ReviewItem:
    """Add a classification to the queue (once); the caller commits."""
    existing = session.scalar(select(ReviewItem).where(ReviewItem.classification_id == record.id))
    if existing is not None:
        return existing
    item = ReviewItem(classification_id=record.id, priority_rank=PRIORITY_RANK.get(record.priority or "low", 4),
                      due_at=record.respond_by, reasons=list(record.review_reasons or []), origin=origin, status="open")
    session.add(item)
    return item


MAX_AGE_HOURS = 24 * 365 * 10  # "older than" beyond ten years is a typo, not a filter (and overflows timedelta)


@dataclass
class QueueFilter:
    label: str | None = None
    channel: str | None = None
    min_age_hours: float | None = None
    overdue: bool = False
    status: str = "open"
    limit: int = 50


def list_items(session: Session, flt: QueueFilter, now: datetime | None = None) -> list[tuple[ReviewItem, ClassificationRecord]]:
    now = now or utcnow()
    query = (select(ReviewItem, ClassificationRecord).join(ClassificationRecord, ClassificationRecord.id == ReviewItem.classification_id)
             .where(ReviewItem.status == flt.status))
    if flt.channel:
        query = query.where(ClassificationRecord.channel == flt.channel)
    if flt.min_age_hours is not None:
        query = query.where(ReviewItem.created_at <= now - timedelta(hours=flt.min_age_hours))
    if flt.overdue:
        query = query.where(ReviewItem.due_at.is_not(None), ReviewItem.due_at < now)
    query = query.order_by(ReviewItem.priority_rank, ReviewItem.due_at.is_(None), ReviewItem.due_at, ReviewItem.created_at,
                           ReviewItem.id)
    if not flt.label:
        return [(i, c) for i, c in session.execute(query.limit(flt.limit)).all()]
    # Labels live in JSON; filter here so SQLite and PostgreSQL behave the same, reading the queue in pages until
    # ``limit`` match (a bulk action over "every item the filter matches" must not miss any further down).
    rows: list[tuple[ReviewItem, ClassificationRecord]] = []
    page, offset = max(flt.limit * 4, 200), 0
    while len(rows) < flt.limit:
        batch = session.execute(query.offset(offset).limit(page)).all()
        rows += [(i, c) for i, c in batch if _has_label(i, c, flt.label)]
        if len(batch) < page:
            break
        offset += page
    return rows[: flt.limit]


def _has_label(item: ReviewItem, record: ClassificationRecord, label: str) -> bool:
    return (label in (record.labels or []) or any(r.startswith(label + ":") for r in item.reasons)
            or bool((record.flags or {}).get(label)))


def _claimable(now: datetime) -> Any:
    return and_(ReviewItem.status == "open", or_(ReviewItem.claimed_until.is_(None), ReviewItem.claimed_until < now))


def _claim(session: Session, item_id: str, moderator: str, *, minutes: int, now: datetime | None) -> ReviewItem:
    """Claim one item for ``moderator`` (renewing their own claim) in the caller's transaction."""
    now = now or utcnow()
    until = now + timedelta(minutes=minutes)
    result = session.execute(update(ReviewItem).where(ReviewItem.id == item_id, or_(_claimable(now), and_(
        ReviewItem.status == "open", ReviewItem.claimed_by == moderator))).values(claimed_by=moderator, claimed_until=until))
    item = session.get(ReviewItem, item_id, populate_existing=True)  # as the database has it now, whoever won
    if item is None:
        raise ReviewNotFound(f"no review item {item_id}")
    if result.rowcount != 1:  # type: ignore[attr-defined]
        if item.status != "open":
            raise ReviewConflict("this item has already been decided")
        raise ReviewConflict(f"this item is being reviewed by {item.claimed_by} until {item.claimed_until:%H:%M}")
    return item


def claim(session: Session, item_id: str, moderator: str, *, minutes: int = CLAIM_MINUTES, now: datetime | None = None) -> ReviewItem:
    """Claim one item for ``moderator`` (renewing their own claim); refused if someone else holds it. One transaction."""
    with _transaction(session):
        return _claim(session, item_id, moderator, minutes=minutes, now=now)


@contextmanager
def _transaction(session: Session) -> Iterator[None]:
    """One use case, one transaction: committed when it succeeds, rolled back when it is refused or fails."""
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()


def claim_next(session: Session, moderator: str, *, minutes: int = CLAIM_MINUTES, now: datetime | None = None) -> ReviewItem | None:
    """Claim the most urgent open item nobody holds; None when the queue is empty."""
    now = now or utcnow()
    for _ in range(20):
        query = (select(ReviewItem.id).where(_claimable(now))
                 .order_by(ReviewItem.priority_rank, ReviewItem.due_at.is_(None), ReviewItem.due_at, ReviewItem.created_at).limit(1))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        item_id = session.scalar(query)
        if item_id is None:
            session.rollback()
            return None
        try:
            with _transaction(session):  # the row lock (PostgreSQL) and the claim in one transaction
                return _claim(session, item_id, moderator, minutes=minutes, now=now)
        except ReviewConflict:
            continue  # someone else won that one: try the next
    return None


def decide(session: Session, item_id: str, moderator: str, *, labels: Sequence[str], flags: Sequence[str], action: str | None,
           note: str | None) -> AuditEntry:
    """Record a moderator's decision: audit entry, item closed, author history corrected. One transaction."""
    bad = [x for x in labels if x not in LABELS] + [x for x in flags if x not in FLAGS]
    if bad:
        raise ReviewInvalid(f"unknown labels or flags {bad}; labels are {list(LABELS)}, flags {list(FLAGS)}")
    with _transaction(session):
        return _decide(session, item_id, moderator, labels=labels, flags=flags, action=action, note=note)


def _decide(session: Session, item_id: str, moderator: str, *, labels: Sequence[str], flags: Sequence[str], action: str | None,
            note: str | None) -> AuditEntry:
    item = _claim(session, item_id, moderator, minutes=CLAIM_MINUTES, now=None)  # refuses items others hold or decided ones
    record = session.get(ClassificationRecord, item.classification_id)
    assert record is not None
    model_said = {"labels": list(record.labels or []), "flags": [k for k, v in (record.flags or {}).items()
                                                                 if isinstance(v, bool) and v],
                  "scores": record.scores, "source": record.source, "model_version": record.model_version}
    decided = {"labels": sorted(set(labels), key=LABELS.index), "flags": sorted(set(flags)), "action": action}
    entry = AuditEntry(actor=moderator, event="decision", item_id=item.id, classification_id=record.id, model_said=model_said,
                       decided=decided, note=(note or None))
    session.add(entry)
    item.status, item.decided_at, item.claimed_until = "decided", utcnow(), None
    removal = [r for r in REMOVAL_REASONS if r in labels or r in flags]
    if not removal:
        clear_offences(session, record.id, moderator)  # cleared: the post no longer counts against its author
    elif record.author_hash:
        # A removal the model missed now counts against the author too (personal data is no offence).
        already = set(session.scalars(select(AuthorOffence.reason).where(AuthorOffence.classification_id == record.id)))
        record_offences(session, record.author_hash, record.id, [r for r in removal if r not in already and r != "pii"],
                        record.created_at)
    session.flush()  # the entry's id and time, for the answer
    decision_made(session, item, record, entry)  # review.decided, in this transaction (when someone subscribes)
    return entry


def pull(session: Session, classification_id: str, moderator: str) -> ReviewItem:
    """Bring any classified item into the queue (to correct it) and claim it. One transaction."""
    with _transaction(session):
        record = session.get(ClassificationRecord, classification_id)
        if record is None:
            raise ReviewNotFound(f"no classification {classification_id}")
        item = session.scalar(select(ReviewItem).where(ReviewItem.classification_id == classification_id))
        if item is None:
            item = enqueue(session, record, origin="pulled")
            session.flush()
            session.add(AuditEntry(actor=moderator, event="pulled", item_id=item.id, classification_id=record.id))
        elif item.status == "decided":
            item.status, item.decided_at = "open", None
        session.flush()
        return _claim(session, item.id, moderator, minutes=CLAIM_MINUTES, now=None)


def purge_expired(session: Session, retention_days: int, now: datetime | None = None) -> int:
    """Forget the text of comments older than the retention period; returns how many were purged."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    result = session.execute(update(ClassificationRecord).where(
        ClassificationRecord.created_at < cutoff, or_(ClassificationRecord.text.is_not(None),
                                                      ClassificationRecord.redacted_text.is_not(None),
                                                      ClassificationRecord.parent_text.is_not(None)))
        .values(text=None, redacted_text=None, parent_text=None))
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def decisions(session: Session) -> list[tuple[AuditEntry, ClassificationRecord]]:
    """The latest decision per classification that still has its text, oldest first."""
    latest = (select(AuditEntry.classification_id, func.max(AuditEntry.at).label("at"))
              .where(AuditEntry.event == "decision").group_by(AuditEntry.classification_id).subquery())
    query = (select(AuditEntry, ClassificationRecord)
             .join(latest, and_(latest.c.classification_id == AuditEntry.classification_id, latest.c.at == AuditEntry.at))
             .join(ClassificationRecord, ClassificationRecord.id == AuditEntry.classification_id)
             .where(AuditEntry.event == "decision", ClassificationRecord.text.is_not(None)).order_by(AuditEntry.at))
    return [(a, c) for a, c in session.execute(query).all()]


def decided_rows(session: Session) -> list[dict[str, Any]]:
    """Moderators' latest decisions as labelled rows (the labelling guide's format): every target annotated,
    since a moderator who leaves a label off says it does not apply."""
    return [{"text": record.text, "labels": (entry.decided or {}).get("labels", []), "flags": (entry.decided or {}).get("flags", []),
             "channel": record.channel} for entry, record in decisions(session)]
