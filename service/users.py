"""Moderator accounts: argon2 password hashes, checked in the same time whether or not the user exists.

Passwords follow :func:`password_problem`: at least 12 characters, not one of the common passwords that
guessing tools try first (``common_passwords.txt``), not the username, not one character over and over.
Changing a password or disabling an account ends every session of that user (:mod:`service.sessions`).

Example::

    create_user(db, "maria", "a long and unusual phrase")
    set_password(db, "maria", "another long and unusual phrase")   # her open sessions end
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import User
from service.sessions import revoke_user_sessions

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 500  # the sign-in form's limit: a longer one could never be typed in
_COMMON = Path(__file__).with_name("common_passwords.txt")
_hasher = PasswordHasher()


class AuthError(ValueError):
    pass


@cache
def _common_passwords() -> frozenset[str]:
    lines = _COMMON.read_text(encoding="utf-8").splitlines()
    return frozenset(_folded(line) for line in lines if line.strip() and not line.startswith("#"))


def _folded(text: str) -> str:
    return "".join(text.split()).casefold()


def password_problem(password: str, username: str) -> str | None:
    """What is wrong with ``password`` for ``username``, in words a person can act on; None if nothing."""
    if len(password) < MIN_PASSWORD_CHARS:
        return (f"a password needs at least {MIN_PASSWORD_CHARS} characters (this one has {len(password)}); "
                "a few unusual words make a good one")
    if len(password) > MAX_PASSWORD_CHARS:
        return f"a password can have at most {MAX_PASSWORD_CHARS} characters"
    folded, name = _folded(password), _folded(username)
    if name and name in folded and len(folded.replace(name, "")) < 6:
        return "the password must not be the username, nor the username with a few characters added"
    if folded in _common_passwords():
        return "this password is one of the most common ones, which guessing tools try first; choose another"
    if len(set(password)) < 5:
        return "the password repeats too few characters (fewer than 5 different ones); choose another"
    return None


def _check_password(password: str, username: str) -> None:
    problem = password_problem(password, username)
    if problem:
        raise AuthError(problem)


def create_user(session: Session, username: str, password: str, role: str = "moderator") -> User:
    username = username.strip()
    if not username or len(username) > 100:
        raise AuthError("a username needs 1 to 100 characters")
    _check_password(password, username)
    if role not in {"moderator", "admin"}:
        raise AuthError("role must be moderator or admin")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AuthError(f"user {username!r} already exists")
    user = User(username=username, password_hash=_hasher.hash(password), role=role)
    session.add(user)
    session.commit()
    return user


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise AuthError(f"no user {username.strip()!r} (create one with `sift users create`)")
    return user


def set_password(session: Session, username: str, password: str) -> int:
    """A new password for ``username``; every open session of that user ends. How many sessions ended."""
    user = _user(session, username)
    _check_password(password, user.username)
    user.password_hash = _hasher.hash(password)
    session.commit()
    return revoke_user_sessions(session, user.id)


def set_disabled(session: Session, username: str, disabled: bool) -> int:
    """Disable (every open session ends) or enable an account; how many sessions ended."""
    user = _user(session, username)
    user.disabled = disabled
    session.commit()
    return revoke_user_sessions(session, user.id) if disabled else 0


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
