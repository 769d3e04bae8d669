"""API keys as the service checks them: in the database on every call, with a memory of keys seen valid so
a database outage does not lock out callers the service already knows.

While the database answers, every call is checked against it, so a revoked key stops working at once. When
it does not (down, unreachable, damaged: :func:`service.db.session.is_unavailable`), a key verified within
the last ``grace_seconds`` is accepted, so ``/classify`` keeps answering (its rows go to the outbox); an
unknown key, or one not seen for longer, gets the database's error (a JSON 503 with Retry-After). Only valid
keys are remembered, by a SHA-256 of the key, so random keys sent by a stranger cannot fill the memory.

    known = KnownKeys()
    key = known.lookup(session_factory, plain)  # ApiKey, None (not valid), or the database's error
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from service.db.models import ApiKey
from service.db.repository import find_api_key
from service.db.session import is_unavailable

logger = logging.getLogger(__name__)

GRACE_SECONDS = 15 * 60
WARN_EVERY_SECONDS = 60  # during an outage every call would say the same: once a minute a key is enough


class KnownKeys:
    def __init__(self, grace_seconds: float = GRACE_SECONDS, clock: object = time.monotonic) -> None:
        self.grace_seconds = grace_seconds
        self._clock = clock
        self._seen: dict[str, tuple[ApiKey, float]] = {}
        self._warned: dict[str, float] = {}
        self._lock = threading.Lock()

    def lookup(self, sessions: sessionmaker[Session], plain: str) -> ApiKey | None:
        digest = hashlib.sha256(plain.encode()).hexdigest()
        now: float = self._clock()  # type: ignore[operator]
        try:
            with sessions() as session:
                key = find_api_key(session, plain)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            with self._lock:
                seen = self._seen.get(digest)
            if seen is None or now - seen[1] > self.grace_seconds:
                raise
            with self._lock:
                warn = now - self._warned.get(digest, -WARN_EVERY_SECONDS) >= WARN_EVERY_SECONDS
                if warn:
                    self._warned[digest] = now
            if warn:
                logger.warning("the database is unavailable; accepting API key id %s, verified %.0f s ago", seen[0].id,
                               now - seen[1])
            return seen[0]
        with self._lock:
            if key is None:
                self._seen.pop(digest, None)
            else:
                self._seen[digest] = (key, now)
        return key
