"""Moderators on the web: the session cookie and its CSRF token (accounts are in :mod:`service.users`,
the sessions themselves in :mod:`service.sessions`).

The cookie ``sift_session`` holds only a random session id: ``HttpOnly``, ``SameSite=Strict``, path ``/``,
``Max-Age`` the absolute session limit, and ``Secure`` whenever the request came over TLS. The server keeps
the session (its hash, the moderator, a per-session CSRF token, its times), so signing out, a password
change or disabling the account ends it everywhere at once. Every form and every cookie-authenticated JSON
call must echo the CSRF token (a synchronizer token).

Example::

    start_session(request, response, db, user)          # in the sign-in route: a fresh session and token
    web = read_session(request, db)                      # WebSession or None
    csrf_ok(web, form_token)
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection
from starlette.responses import Response

from service.db.models import User
from service.sessions import find_session, open_session, revoke_session
from service.settings import Settings

COOKIE = "sift_session"


@dataclass(frozen=True)
class WebSession:
    username: str
    csrf: str


def _settings(request: HTTPConnection) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def start_session(request: HTTPConnection, response: Response, db: Session, user: User) -> WebSession:
    """Sign in: a new session and CSRF token, whatever session the browser brought (which is revoked), so a
    session planted before sign-in is never the signed-in one."""
    planted = request.cookies.get(COOKIE)
    if planted:
        revoke_session(db, planted)
    absolute = timedelta(hours=_settings(request).session_max_hours)
    token, csrf = open_session(db, user, absolute)
    response.set_cookie(COOKIE, token, max_age=int(absolute.total_seconds()), path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme in ("https", "wss"))
    return WebSession(user.username, csrf)


def end_session(request: HTTPConnection, response: Response, db: Session) -> None:
    """Sign out: the session is revoked on the server and the browser told to drop the cookie."""
    token = request.cookies.get(COOKIE)
    if token:
        revoke_session(db, token)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme in ("https", "wss"))


def read_session(request: HTTPConnection, db: Session) -> WebSession | None:
    """The session's moderator and token, or None when the cookie names no live session (missing, guessed,
    revoked, expired, idle too long, or the account disabled)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    found = find_session(db, token, idle=timedelta(minutes=_settings(request).session_idle_minutes))
    return WebSession(found.username, found.csrf) if found else None


def csrf_ok(web: WebSession, sent: str | None) -> bool:
    """Whether the token sent matches the session's, compared in constant time. As bytes: ``compare_digest``
    raises on a ``str`` with non-ASCII characters, and a forged token must be a 403, not a 500."""
    return bool(sent) and hmac.compare_digest(web.csrf.encode(), (sent or "").encode())
