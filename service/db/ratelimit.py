"""A storage for the ``limits`` library in sift's own database, so fixed-window limits hold across workers
without Redis (the sign-in limits use it when ``SIFT_REDIS_URL`` is empty).

One statement per hit: an upsert that starts a new window when the old one has expired, else adds to it,
and returns the count. It is atomic on SQLite and PostgreSQL alike, so two workers never both see the
fifth attempt as the fourth. Only the fixed-window strategy is supported (no moving or sliding windows).

Example::

    from limits import parse
    from limits.strategies import FixedWindowRateLimiter

    limiter = FixedWindowRateLimiter(DatabaseStorage(session_factory))
    limiter.hit(parse("5/15 minutes"), "signin-user", "ab12...")
"""

from __future__ import annotations

import random
import time
from typing import cast

from limits.storage import Storage
from sqlalchemy import Table, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.db.models import RateLimitCounter

_table = cast(Table, RateLimitCounter.__table__)
_SWEEP_CHANCE = 0.01  # about one hit in a hundred also deletes expired windows, so the table stays small


class DatabaseStorage(Storage):
    """Fixed-window counters in the ``rate_limits`` table, reached through a SQLAlchemy session factory."""

    STORAGE_SCHEME = None  # built with a session factory, not from a URI

    def __init__(self, session_factory: sessionmaker[Session], wrap_exceptions: bool = True) -> None:
        super().__init__(wrap_exceptions=wrap_exceptions)
        self._factory = session_factory

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._factory() as session:
            dialect = session.get_bind().dialect.name
            insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_table)
            expired = _table.c.expires_at <= now
            stmt = insert.values(key=key, count=amount, expires_at=now + expiry).on_conflict_do_update(
                index_elements=[_table.c.key],
                set_={"count": case((expired, amount), else_=_table.c.count + amount),
                      "expires_at": case((expired, now + expiry), else_=_table.c.expires_at)},
            ).returning(_table.c.count)
            count = int(session.execute(stmt).scalar_one())
            if random.random() < _SWEEP_CHANCE:  # noqa: S311 - not for security, only housekeeping
                session.execute(delete(_table).where(_table.c.expires_at <= now))
            session.commit()
        return count

    def get(self, key: str) -> int:
        with self._factory() as session:
            count = session.scalar(select(_table.c.count).where(_table.c.key == key, _table.c.expires_at > time.time()))
        return int(count or 0)

    def get_expiry(self, key: str) -> float:
        now = time.time()
        with self._factory() as session:
            expires = session.scalar(select(_table.c.expires_at).where(_table.c.key == key, _table.c.expires_at > now))
        return float(expires) if expires is not None else now

    def check(self) -> bool:
        try:
            with self._factory() as session:
                session.scalar(select(func.count()).select_from(_table))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self._factory() as session:
            removed = session.execute(delete(_table)).rowcount  # type: ignore[attr-defined]
            session.commit()
        return int(removed)

    def clear(self, key: str) -> None:
        with self._factory() as session:
            session.execute(delete(_table).where(_table.c.key == key))
            session.commit()
