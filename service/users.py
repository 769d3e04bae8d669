"""Moderator accounts: argon2 password hashes, checked in the same time whether or not the user exists."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import User

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
