"""The events outbox as a queue: claim what is due, settle each attempt, list, replay dead letters.

A delivery is claimed with a lease (``claimed_by`` a token of this claim, ``claimed_until``): safe with any
number of workers, as a claim is a compare-and-set ``UPDATE`` of rows nobody holds, and on PostgreSQL the due
rows are picked with ``SELECT ... FOR UPDATE SKIP LOCKED`` so workers do not queue behind each other. A worker
that dies holding a lease loses it when the lease ends and another sends the event again (at least once: the
subscriber de-duplicates on the event id).

    claimed = claim(session, now=now, limit=20, lease=timedelta(seconds=60))
    settle(session, claimed[0], delivered=True, error=None, now=now, retry_at=None)
    requeue(session, event_or_delivery_id)      # `sift events replay`
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from service.db.models import EventDelivery, utcnow

Status = Literal["pending", "delivered", "dead"]
STATUSES: tuple[Status, ...] = get_args(Status)


@dataclass(frozen=True, slots=True)
class Claimed:
    """One delivery a worker holds: what it needs to send it, and the claim's token."""

    id: str
    event_id: str
    type: str
    subscriber: str
    payload: dict[str, Any]
    attempts: int  # made before this one
    token: str


def _free(now: datetime) -> Any:
    return or_(EventDelivery.claimed_until.is_(None), EventDelivery.claimed_until < now)


def claim(session: Session, *, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Claim up to ``limit`` pending deliveries that are due and that nobody holds, oldest due first. Commits."""
    due = (select(EventDelivery.id).where(EventDelivery.status == "pending", EventDelivery.next_attempt_at <= now, _free(now))
           .order_by(EventDelivery.next_attempt_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    try:
        ids = list(session.scalars(due))
        if not ids:
            session.rollback()
            return []
        token = str(uuid.uuid4())
        session.execute(update(EventDelivery).where(EventDelivery.id.in_(ids), EventDelivery.status == "pending", _free(now))
                        .values(claimed_by=token, claimed_until=now + lease), execution_options={"synchronize_session": False})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    rows = session.execute(select(EventDelivery.id, EventDelivery.event_id, EventDelivery.type, EventDelivery.subscriber,
                                  EventDelivery.payload, EventDelivery.attempts)
                           .where(EventDelivery.id.in_(ids), EventDelivery.claimed_by == token)
                           .order_by(EventDelivery.next_attempt_at)).all()
    session.rollback()
    return [Claimed(r.id, r.event_id, r.type, r.subscriber, r.payload, r.attempts, token) for r in rows]


def settle(session: Session, claimed: Claimed, *, delivered: bool, error: str | None, now: datetime,
           retry_at: datetime | None) -> bool:
    """Record one attempt: delivered; or failed, to be tried again at ``retry_at`` (None: dead, no more tries).
    Only while this claim still holds the row (a lease that ran out belongs to whoever claimed it next).
    The caller commits (one commit for a batch of attempts); whether the row was this claim's."""
    values: dict[str, Any] = {"attempts": claimed.attempts + 1, "claimed_by": None, "claimed_until": None,
                              "last_error": error[:200] if error else None}
    if delivered:
        values.update(status="delivered", delivered_at=now)
    elif retry_at is None:
        values.update(status="dead")
    else:
        values.update(next_attempt_at=retry_at)
    result = session.execute(update(EventDelivery).where(EventDelivery.id == claimed.id, EventDelivery.claimed_by == claimed.token)
                             .values(**values), execution_options={"synchronize_session": False})
    return bool(result.rowcount)  # type: ignore[attr-defined]


def listing(session: Session, *, status: Status | None = None, limit: int = 50) -> list[EventDelivery]:
    """Deliveries, newest first (of one status, or all)."""
    query = select(EventDelivery).order_by(EventDelivery.created_at.desc(), EventDelivery.id).limit(limit)
    if status is not None:
        query = query.where(EventDelivery.status == status)
    return list(session.scalars(query))


def counts(session: Session) -> dict[str, int]:
    """How many deliveries are in each status."""
    from sqlalchemy import func

    found = dict(session.execute(select(EventDelivery.status, func.count()).group_by(EventDelivery.status)).all())
    return {status: int(found.get(status, 0)) for status in STATUSES}  # type: ignore[call-overload]


def requeue(session: Session, ident: str | None = None, *, all_dead: bool = False, now: datetime | None = None) -> int:
    """Send again, from the first attempt: the deliveries of one event (by event id) or one delivery (by its id),
    whatever their status; or, with ``all_dead``, every dead letter. Commits; how many were queued."""
    if (ident is None) == (not all_dead):
        raise ValueError("give one event or delivery id, or all_dead")
    where = EventDelivery.status == "dead" if all_dead else or_(EventDelivery.event_id == ident, EventDelivery.id == ident)
    result = session.execute(update(EventDelivery).where(where).values(
        status="pending", attempts=0, next_attempt_at=now or utcnow(), claimed_by=None, claimed_until=None,
        delivered_at=None), execution_options={"synchronize_session": False})
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune(session: Session, *, older_than: datetime) -> int:
    """Forget delivered events created before ``older_than`` (dead letters stay until replayed). Commits."""
    result = session.execute(delete(EventDelivery).where(EventDelivery.status == "delivered",
                                                         EventDelivery.created_at < older_than),
                             execution_options={"synchronize_session": False})
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
