"""Moderators' sessions, kept on the server: the browser holds a random id, the ``user_sessions`` table
holds its SHA-256, the moderator, the CSRF token and the session's times.

A session ends at sign-out, when its user's password changes or the account is disabled (every session of
that user), after ``idle`` unused, and ``absolute`` after sign-in, whichever comes first. Ended sessions
are refused at once by every worker: there is no copy elsewhere that stays valid.

Example::

    token, csrf = open_session(db, user, absolute=timedelta(hours=12))   # token goes in the cookie
    found = find_session(db, token, idle=timedelta(hours=1))             # (username, csrf) or None
    revoke_session(db, token)
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from service.db.models import User, UserSession, utcnow

_TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most once a minute, not on every request


@dataclass(frozen=True)
class FoundSession:
    username: str
    csrf: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user: User, absolute: timedelta) -> tuple[str, str]:
    """A new session for ``user``: the token for the cookie (never stored) and its CSRF token.
    Sessions that have expired are deleted on the way."""
    now = utcnow()
    session.execute(delete(UserSession).where(or_(UserSession.expires_at <= now, UserSession.revoked_at.is_not(None))))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(UserSession(id_hash=_hash(token), user_id=user.id, csrf=csrf, created_at=now, last_seen_at=now,
                            expires_at=now + absolute))
    session.commit()
    return token, csrf


def find_session(session: Session, token: str, idle: timedelta) -> FoundSession | None:
    """The live session for ``token`` and its active user, or None (unknown, revoked, idle too long, past its
    absolute limit, or its user disabled or gone)."""
    if not token or len(token) > 200:
        return None
    now = utcnow()
    row = session.execute(
        select(UserSession, User.username).join(User, User.id == UserSession.user_id)
        .where(UserSession.id_hash == _hash(token), UserSession.revoked_at.is_(None), UserSession.expires_at > now,
               UserSession.last_seen_at > now - idle, User.disabled.is_(False))).first()
    if row is None:
        return None
    web, username = row
    if now - web.last_seen_at >= _TOUCH_EVERY:
        web.last_seen_at = now
        session.commit()
    return FoundSession(username, web.csrf)


def revoke_session(session: Session, token: str) -> None:
    """Sign-out: this session ends now."""
    session.execute(update(UserSession).where(UserSession.id_hash == _hash(token), UserSession.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))
    session.commit()


def revoke_user_sessions(session: Session, user_id: str) -> int:
    """Every live session of one user ends now (password changed, account disabled); how many there were."""
    result = session.execute(update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
                             .values(revoked_at=utcnow()))
    session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]
