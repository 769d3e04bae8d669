"""The platforms' events in the database: claimed once, marked decided, and the payloads sift could not read.

A replay is recognised by the unique (platform, event key) of :class:`service.db.models.InboundEvent`. The
first delivery inserts the row (``INSERT … ON CONFLICT DO NOTHING``: two deliveries at once, in any number of
workers, and only one inserts it), decides the comment and marks it decided; every later one finds it and
decides nothing. A claim whose attempt died (the process stopped mid-decision) is taken over after
:data:`CLAIM_STALE_SECONDS`, unless its classification is already stored, in which case it is simply marked.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.db.models import ClassificationRecord, InboundEvent, UnknownPayload, utcnow

CLAIM_STALE_SECONDS = 120
_RECORD_IDS = uuid.UUID("6f1d8a52-3c1e-4f0e-9a57-5b0c2f8e7d41")  # the namespace of the records' uuid5 ids


def record_id(platform: str, key: str) -> str:
    """The classification id of a platform's event: the same event always becomes the same record, so a copy
    written twice (from the outbox, say) is refused by the primary key rather than stored again."""
    return str(uuid.uuid5(_RECORD_IDS, f"{platform}:{key}"))


@dataclass(frozen=True, slots=True)
class Event:
    key: str
    external_id: str


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)


def claim(session: Session, platform: str, events: Sequence[Event], token: str, *, now: datetime | None = None) -> dict[str, str]:
    """Claim ``events`` for the attempt ``token``; returns each event key's state: ``"mine"`` (decide it),
    ``"seen"`` (decided, or being decided by another attempt). Commits."""
    now = now or utcnow()
    if not events:
        return {}
    keys = [e.key for e in events]
    rows = [{"id": str(uuid.uuid4()), "platform": platform, "event_key": e.key, "external_id": e.external_id,
             "record_id": record_id(platform, e.key), "status": "claimed", "claim": token, "claimed_at": now}
            for e in events]
    session.execute(_insert(session)(InboundEvent).on_conflict_do_nothing(index_elements=["platform", "event_key"]), rows)
    # A claim left by an attempt that died: taken over (compare-and-set, so one taker wins).
    session.execute(update(InboundEvent).where(
        InboundEvent.platform == platform, InboundEvent.event_key.in_(keys), InboundEvent.status == "claimed",
        InboundEvent.claim != token, InboundEvent.claimed_at < now - timedelta(seconds=CLAIM_STALE_SECONDS))
        .values(claim=token, claimed_at=now))
    mine = set(session.scalars(select(InboundEvent.event_key).where(
        InboundEvent.platform == platform, InboundEvent.event_key.in_(keys), InboundEvent.claim == token,
        InboundEvent.status == "claimed")))
    # Taken over, but the dead attempt had stored the classification: decided already.
    stored = set(session.scalars(select(InboundEvent.event_key).join(
        ClassificationRecord, ClassificationRecord.id == InboundEvent.record_id).where(
        InboundEvent.platform == platform, InboundEvent.event_key.in_(list(mine)))))
    if stored:
        _mark(session, platform, stored, token, now)
    session.commit()
    return {key: "mine" if key in mine - stored else "seen" for key in keys}


def _mark(session: Session, platform: str, keys: set[str] | Sequence[str], token: str, now: datetime) -> None:
    session.execute(update(InboundEvent).where(InboundEvent.platform == platform, InboundEvent.event_key.in_(list(keys)),
                                               InboundEvent.claim == token).values(status="decided", decided_at=now))


def mark_decided(session: Session, platform: str, keys: Sequence[str], token: str) -> None:
    """The comments of ``keys`` are stored (or in the outbox): a replay now finds them decided. Commits."""
    if keys:
        _mark(session, platform, keys, token, utcnow())
        session.commit()


def release(session: Session, platform: str, keys: Sequence[str], token: str) -> None:
    """Give up the claims of an attempt that failed before storing anything, so the platform's retry decides
    them. Commits."""
    if keys:
        session.execute(delete(InboundEvent).where(InboundEvent.platform == platform, InboundEvent.event_key.in_(list(keys)),
                                                   InboundEvent.claim == token, InboundEvent.status == "claimed"))
        session.commit()


def keep_unknown(session: Session, platform: str, body: bytes, reason: str, content_type: str | None,
                 *, now: datetime | None = None) -> tuple[str, int]:
    """Keep a payload sift could not read, with why; the same body again is the same row, counted. Returns its id
    and how many times it has been received. Commits."""
    now = now or utcnow()
    digest = hashlib.sha256(body).hexdigest()
    statement = _insert(session)(UnknownPayload).values(
        id=str(uuid.uuid4()), platform=platform, reason=reason, content_type=(content_type or "")[:200] or None, body=body,
        body_sha256=digest, received_at=now, last_received_at=now, times=1)
    session.execute(statement.on_conflict_do_update(
        index_elements=["body_sha256"], set_={"last_received_at": now, "times": UnknownPayload.times + 1, "reason": reason}))
    kept = session.execute(select(UnknownPayload.id, UnknownPayload.times).where(UnknownPayload.body_sha256 == digest)).one()
    session.commit()
    return kept[0], kept[1]


def unknown_payloads(session: Session, *, platform: str | None = None, limit: int = 50) -> list[UnknownPayload]:
    """The payloads kept unread, the latest first."""
    query: Select[UnknownPayload] = select(UnknownPayload).order_by(UnknownPayload.last_received_at.desc()).limit(limit)
    if platform:
        query = query.where(UnknownPayload.platform == platform)
    return list(session.scalars(query))


def unknown_payload(session: Session, payload_id: str) -> UnknownPayload | None:
    """One kept payload, by its id or the start of it (as ``sift webhooks unknown`` lists them)."""
    found = session.get(UnknownPayload, payload_id)
    if found is not None or len(payload_id) < 8:
        return found
    matches = list(session.scalars(select(UnknownPayload).where(UnknownPayload.id.startswith(payload_id)).limit(2)))
    return matches[0] if len(matches) == 1 else None


def purge_unknown(session: Session, retention_days: int, now: datetime | None = None) -> int:
    """Forget the kept payloads last received before the retention period (they hold comments and authors). Commits."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    result = session.execute(delete(UnknownPayload).where(UnknownPayload.last_received_at < cutoff))
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

