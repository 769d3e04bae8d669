"""Moderators on the web: signed session cookies and CSRF tokens (accounts are in :mod:`service.users`).

The session cookie is ``HttpOnly``, ``SameSite=Strict``, and ``Secure`` whenever the page was served
over TLS. It carries the username and a per-session CSRF token, signed (itsdangerous) with the
service's secret key; every form and every cookie-authenticated JSON call must echo the token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "sift_session"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class WebSession:
    username: str
    csrf: str


def _serializer(secret: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="sift-session")


def start_session(response: Response, request: Request, secret: bytes, username: str) -> WebSession:
    web = WebSession(username, secrets.token_urlsafe(24))
    token = _serializer(secret).dumps({"u": web.username, "c": web.csrf})
    response.set_cookie(COOKIE, token, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return web


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def read_session(request: Request, secret: bytes) -> WebSession | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        data = _serializer(secret).loads(token, max_age=SESSION_SECONDS)
    except BadSignature:
        return None
    return WebSession(str(data["u"]), str(data["c"]))


def csrf_ok(web: WebSession, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(web.csrf, sent or "")
