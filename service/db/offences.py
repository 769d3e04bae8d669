"""The repeat-offender history in the database, and a moderator clearing a post."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from model.policy.history import Offence, OffenceHistory
from service.db.models import AuthorOffence, utcnow
from service.db.session import fault_reason, is_unavailable

logger = logging.getLogger(__name__)


class DbHistory:
    """:class:`model.policy.history.OffenceHistory` over the ``author_offences`` table."""

    def __init__(self, session: Session):
        self.session = session

    def offences(self, author_hash: str, reasons: Sequence[str], since: datetime) -> list[Offence]:
        rows = self.session.scalars(
            select(AuthorOffence).where(AuthorOffence.author_hash == author_hash, AuthorOffence.reason.in_(list(reasons)),
                                        AuthorOffence.created_at >= since, AuthorOffence.cleared_at.is_(None))
            .order_by(AuthorOffence.created_at))
        return [Offence(row.created_at, row.reason, row.classification_id) for row in rows]


class _LazyHistory:
    """:class:`DbHistory` on a session of its own, opened at the first question (most comments remove
    nothing and never ask)."""

    def __init__(self, sessions: sessionmaker[Session]):
        self._sessions = sessions
        self._session: Session | None = None

    def offences(self, author_hash: str, reasons: Sequence[str], since: datetime) -> list[Offence]:
        if self._session is None:
            self._session = self._sessions()
        try:
            return DbHistory(self._session).offences(author_hash, reasons, since)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            # The database is down: the comment is still answered (and kept in the outbox), judged without the
            # author's past removals rather than not at all.
            logger.warning("the offence history is unavailable (%s); deciding without it", fault_reason(exc))
            self._session.rollback()
            return []

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def history_scope(sessions: sessionmaker[Session]) -> Callable[[], AbstractContextManager[OffenceHistory]]:
    """Opens the history for one decision step, and closes its session (if one was opened) when the step ends."""

    @contextmanager
    def scope() -> Iterator[OffenceHistory]:
        history = _LazyHistory(sessions)
        try:
            yield history
        finally:
            history.close()

    return scope


def record_offences(session: Session, author_hash: str | None, classification_id: str, reasons: Sequence[str],
                    at: datetime | None = None) -> None:
    """Remember a removal against the author (one row per reason); the caller commits."""
    if not author_hash:
        return
    for reason in dict.fromkeys(reasons):
        session.add(AuthorOffence(author_hash=author_hash, classification_id=classification_id, reason=reason,
                                  created_at=at or utcnow()))


def clear_offences(session: Session, classification_id: str, moderator: str) -> int:
    """A moderator cleared this post: it no longer counts against its author. Returns rows cleared; the caller commits."""
    rows = list(session.scalars(select(AuthorOffence).where(AuthorOffence.classification_id == classification_id,
                                                            AuthorOffence.cleared_at.is_(None))))
    for row in rows:
        row.cleared_at = utcnow()
        row.cleared_by = moderator
    return len(rows)
