"""The right to erasure: forget everything stored about one author (``sift authors erase``).

An author is stored only through a keyed hash of channel and id (:func:`service.comments.author_hash`), so
the id given is hashed with the same secret and everything held against that hash goes, in one transaction:

- the author's classification records (each held the decision, the text's hash and, for review items, the
  text and its redacted form), whichever door they came in by (``/classify``, ``sift classify``, ``sift
  batch``, ``sift review suggest``);
- their review items, open or decided;
- the removals counted against them (``author_offences``);
- the events about those records waiting to be sent, or sent, to subscribers (``event_deliveries``: they
  carry the comment's platform id and labels);
- the platform payloads kept because sift could not read them (``webhook_unknown``, kept byte for byte, so
  the author's id is there in clear) that name the author's id as a JSON string;
- the moderators' notes on those items in the audit log (a note may quote the comment). The rest of those
  audit entries (labels decided, scores, who, when) stays: it is the record of the moderators' work and
  holds nothing about the author once the record it pointed at is gone.

One audit entry of its own records the erasure: who asked, when, and the counts. It names the author by
:func:`subject`, a hash of the keyed hash, never by the id (nor by the keyed hash the data was stored under).

On SQLite the deleted rows are overwritten (``PRAGMA secure_delete``) and the WAL is truncated afterwards,
so the texts are gone from the files too. PostgreSQL keeps dead rows until VACUUM reclaims them.

Example::

    with session_factory() as session:
        done = erase_author(session, secret, channel="twitter", author_id="12345", actor="dpo:sam")
    print(done.summary())
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import get_args

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from model.labels import Channel
from service.comments import Rows, author_hash, drop_records
from service.db.models import AuditEntry, AuthorOffence, ClassificationRecord, EventDelivery, ReviewItem, UnknownPayload

CHANNELS = get_args(Channel)


class ErasureError(ValueError):
    """The erasure cannot be done as asked; the message says what to change."""


@dataclass(frozen=True)
class Erasure:
    """What was (or, in a dry run, would be) removed for one author."""

    subject: str  # a hash of the author's keyed hash: what the audit entry names
    classifications: int  # records removed
    texts: int  # of those, records that held the comment's text
    review_items: int
    offences: int
    audit_notes: int  # moderators' notes cleared from the audit log
    kept_payloads: int = 0  # unreadable platform payloads that named the author
    dry_run: bool = False
    audit_id: str | None = None  # the erasure's own audit entry (None in a dry run)

    @property
    def found(self) -> bool:
        return bool(self.classifications or self.offences or self.review_items or self.kept_payloads)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if isinstance(v, int) and not isinstance(v, bool)}

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (f"{verb} {self.classifications} classifications ({self.texts} with their text), {self.review_items} review "
                f"items, {self.offences} offences, {self.audit_notes} moderators' notes and {self.kept_payloads} kept platform "
                f"payloads for author {self.subject[:12]}")


def subject(hashed_author: str) -> str:
    """How the audit log names an erased author: a one-way hash of the keyed hash (the id never appears)."""
    return hashlib.sha256(f"sift-erasure:{hashed_author}".encode()).hexdigest()


def erase_author(session: Session, secret: bytes, *, channel: str, author_id: str, actor: str,
                 dry_run: bool = False) -> Erasure:
    """Remove everything stored against one author, in one transaction, and audit it (see the module).
    ``dry_run`` counts what would go and changes nothing. Commits (or rolls back) the session."""
    if channel not in CHANNELS:
        raise ErasureError(f"unknown channel {channel!r}; channels are {list(CHANNELS)}")
    if not author_id.strip():
        raise ErasureError("the author id is empty; give the platform's id for the author, as it was sent to sift")
    if not actor.strip():
        raise ErasureError("say who asked for the erasure (the actor), for the audit log")
    hashed = author_hash(secret, channel, author_id)
    assert hashed is not None
    records = select(ClassificationRecord.id).where(ClassificationRecord.author_hash == hashed)
    items = select(ReviewItem.id).where(ReviewItem.classification_id.in_(records))
    offences = AuthorOffence.author_hash == hashed
    notes = (AuditEntry.classification_id.in_(records) | AuditEntry.item_id.in_(items)) & AuditEntry.note.is_not(None)
    sqlite = session.get_bind().dialect.name == "sqlite"
    try:
        was = _secure_delete_on(session) if sqlite else None
        try:
            counted = Erasure(
                subject=subject(hashed),
                classifications=_count(session, select(func.count()).where(ClassificationRecord.author_hash == hashed)),
                texts=_count(session, select(func.count()).where(ClassificationRecord.author_hash == hashed,
                                                                 ClassificationRecord.text.is_not(None)
                                                                 | ClassificationRecord.redacted_text.is_not(None))),
                review_items=_count(session, select(func.count()).select_from(ReviewItem).where(ReviewItem.id.in_(items))),
                offences=_count(session, select(func.count()).select_from(AuthorOffence).where(offences)),
                audit_notes=_count(session, select(func.count()).select_from(AuditEntry).where(notes)),
                kept_payloads=len(payloads := _kept_payloads_naming(session, author_id)),
                dry_run=dry_run)
            audit_id = None
            if not dry_run:
                # Children first: the review items and notes are found through the records.
                session.execute(update(AuditEntry).where(notes).values(note=None),
                                execution_options={"synchronize_session": False})
                session.execute(delete(ReviewItem).where(ReviewItem.id.in_(items)),
                                execution_options={"synchronize_session": False})
                session.execute(delete(AuthorOffence).where(offences), execution_options={"synchronize_session": False})
                session.execute(delete(EventDelivery).where(EventDelivery.classification_id.in_(records)),
                                execution_options={"synchronize_session": False})
                session.execute(delete(ClassificationRecord).where(ClassificationRecord.author_hash == hashed),
                                execution_options={"synchronize_session": False})
                if payloads:
                    session.execute(delete(UnknownPayload).where(UnknownPayload.id.in_(payloads)),
                                    execution_options={"synchronize_session": False})
                entry = AuditEntry(actor=actor.strip()[:100], event="erasure",
                                   decided={"subject": counted.subject, **counted.counts(), "channel": channel})
                session.add(entry)
                session.flush()
                audit_id = entry.id
        finally:
            # Put the pooled connection back as it was, in a dry run and on an error too. Inside the transaction,
            # so on the very connection it was set on (the deleted cells were overwritten as they were deleted).
            if was is not None:
                _restore_secure_delete(session, was)
        if dry_run:
            session.rollback()
            return counted
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if sqlite:
        _truncate_wal(session)
    return Erasure(**{**asdict(counted), "audit_id": audit_id})


def _kept_payloads_naming(session: Session, author_id: str) -> list[str]:
    """Ids of the kept unreadable payloads holding ``author_id`` as a JSON string (``"12345"``), or as a bare
    JSON number (X's ``id`` fields). Read in Python: the payloads are few, and bytes are not searchable alike
    in SQLite and PostgreSQL. A payload that merely holds the same digits elsewhere goes too: erring towards
    forgetting."""
    quoted = json.dumps(author_id).encode()
    bare = author_id.encode() if author_id.isdigit() else None
    return [pid for pid, body in session.execute(select(UnknownPayload.id, UnknownPayload.body))
            if quoted in body or (bare is not None and re.search(rb"[:\[,]\s*" + bare + rb"(?![0-9.eE])", body))]


def erased_authors(session: Session) -> dict[str, datetime]:
    """Every erased author's audit subject, with the time of their latest erasure."""
    latest: dict[str, datetime] = {}
    for at, decided in session.execute(select(AuditEntry.at, AuditEntry.decided).where(AuditEntry.event == "erasure")):
        name = (decided or {}).get("subject")
        if isinstance(name, str) and (name not in latest or at > latest[name]):
            latest[name] = at
    return latest


def without_erased(rows: Rows, erased: dict[str, datetime]) -> tuple[Rows, int]:
    """``rows`` less the comments of authors erased after those comments were received (rows that waited in
    the outbox while the database was down, and would otherwise bring an erased author back), with how many
    comments were dropped."""
    dropped = {r["id"] for r in rows.get(ClassificationRecord.__tablename__, [])
               if r.get("author_hash") and (when := erased.get(subject(r["author_hash"]))) is not None
               and _utc(r["created_at"]) <= _utc(when)}
    return drop_records(rows, dropped), len(dropped)


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _count(session: Session, query: object) -> int:
    return int(session.scalar(query) or 0)  # type: ignore[call-overload]


def _secure_delete_on(session: Session) -> int:
    """SQLite: make this connection overwrite what it deletes (some builds do by default, others not); returns
    the setting it had."""
    was = int(session.scalar(text("PRAGMA secure_delete")) or 0)
    session.execute(text("PRAGMA secure_delete=ON"))
    return was


def _restore_secure_delete(session: Session, was: int) -> None:
    failing = sys.exc_info()[1] is not None
    try:
        session.execute(text(f"PRAGMA secure_delete={was:d}"))
    except Exception:
        if not failing:  # else the error already on its way out is the one to see (the connection is likely gone)
            raise


def _truncate_wal(session: Session) -> None:
    """SQLite: copy the overwritten pages into the database file and empty the WAL, where the old pages,
    texts and all, would otherwise linger. Best effort: a reader holding the WAL open makes it a no-op."""
    session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    session.commit()
