"""Moderators on the web: the signed session and its CSRF token (accounts are in :mod:`service.users`).

The session is Starlette's ``SessionMiddleware``: a cookie ``sift_session`` holding the session as signed
(not encrypted) JSON, ``HttpOnly``, ``SameSite=Strict``, path ``/``, 12 hours from sign-in, and ``Secure``
whenever the request came over TLS. It carries the username and a per-session CSRF token (a synchronizer
token); every form and every cookie-authenticated JSON call must echo the token.

The session lives in the browser, so signing out removes it from the browser but cannot revoke a copy
taken before: that copy stays valid until its 12 hours are up. A disabled or deleted account loses access
at once, because :func:`api.deps.get_web_session` looks the user up on every request.

Example::

    app.add_middleware(WebSessions)           # keyed from app.state.author_secret, made in the lifespan
    web = start_session(request, "maria")     # in the sign-in route: a fresh session and token
    csrf_ok(read_session(request), form_token)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "sift_session"
SESSION_SECONDS = 12 * 3600
_USER, _CSRF = "username", "csrf"


@dataclass(frozen=True)
class WebSession:
    username: str
    csrf: str


def session_key(secret: bytes) -> str:
    """The signing key for sessions, derived from the service secret so it is never the key that hashes
    author ids (the old cookie used a salt for the same separation)."""
    return hmac.new(secret, b"sift-session", hashlib.sha256).hexdigest()


class WebSessions:
    """Starlette's ``SessionMiddleware`` with sift's cookie settings, keyed by ``app.state.author_secret``.

    The secret is made in the lifespan, after the middleware is added, so the middleware is built on the
    first request. ``SessionMiddleware`` sets ``Secure`` from a fixed ``https_only``; sift decides per
    request (as it did before), so there is one instance for plain HTTP and one, ``https_only``, for TLS.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._secret: bytes | None = None
        self._by_tls: dict[bool, SessionMiddleware] = {}

    def _middleware(self, secret: bytes, tls: bool) -> SessionMiddleware:
        if secret != self._secret:  # a new lifespan may bring a new secret
            key = session_key(secret)
            self._by_tls = {https: SessionMiddleware(self.app, key, session_cookie=COOKIE, max_age=SESSION_SECONDS,
                                                     path="/", same_site="strict", https_only=https)
                            for https in (False, True)}
            self._secret = secret
        return self._by_tls[tls]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # the lifespan itself: no secret yet
            await self.app(scope, receive, send)
            return
        secret: bytes = scope["app"].state.author_secret
        await self._middleware(secret, scope["scheme"] in ("https", "wss"))(scope, receive, send)


def start_session(request: HTTPConnection, username: str) -> WebSession:
    """Sign in: whatever session the browser brought is dropped and a new one, with a new CSRF token,
    takes its place, so a session planted before sign-in is never the signed-in one."""
    web = WebSession(username, secrets.token_urlsafe(24))
    request.session.clear()
    request.session.update({_USER: web.username, _CSRF: web.csrf})
    return web


def end_session(request: HTTPConnection) -> None:
    """Sign out: the middleware answers with an expired, empty cookie."""
    request.session.clear()


def read_session(request: HTTPConnection) -> WebSession | None:
    """The session's moderator and token, or None when there is no valid signed session (a missing,
    tampered, foreign-key or expired cookie all reach here as an empty session)."""
    username, csrf = request.session.get(_USER), request.session.get(_CSRF)
    if not isinstance(username, str) or not isinstance(csrf, str) or not username or not csrf:
        return None
    return WebSession(username, csrf)


def csrf_ok(web: WebSession, sent: str | None) -> bool:
    """Whether the token sent matches the session's, compared in constant time. As bytes: ``compare_digest``
    raises on a ``str`` with non-ASCII characters, and a forged token must be a 403, not a 500."""
    return bool(sent) and hmac.compare_digest(web.csrf.encode(), (sent or "").encode())
