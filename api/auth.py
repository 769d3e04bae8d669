"""Moderators: argon2 password hashes, signed session cookies, CSRF tokens.

The session cookie is ``HttpOnly``, ``SameSite=Strict``, and ``Secure`` whenever the page was served
over TLS. It carries the username and a per-session CSRF token, signed (itsdangerous) with the
service's secret key; every form and every cookie-authenticated JSON call must echo the token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import User

COOKIE = "sift_session"
SESSION_SECONDS = 12 * 3600
_hasher = PasswordHasher()


class AuthError(ValueError):
    pass


def create_user(session: Session, username: str, password: str, role: str = "moderator") -> User:
    username = username.strip()
    if not username or len(username) > 100:
        raise AuthError("a username needs 1 to 100 characters")
    if len(password) < 12:
        raise AuthError("a password needs at least 12 characters")
    if role not in {"moderator", "admin"}:
        raise AuthError("role must be moderator or admin")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AuthError(f"user {username!r} already exists")
    user = User(username=username, password_hash=_hasher.hash(password), role=role)
    session.add(user)
    session.commit()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username.strip(), User.disabled.is_(False)))
    if user is None:
        _hasher.hash(password)  # spend the same time whether or not the user exists
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return None
    return user


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
