"""API keys: created (shown once), found by constant-time hash comparison, revoked.

Classifications are written by :func:`service.comments.store`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import ApiKey, utcnow

KEY_PREFIX = "sift_"
SCOPES = frozenset({"classify", "review", "metrics", "admin"})


class ApiKeyError(ValueError):
    """A key cannot be created as asked; the message says what to change."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, name: str, scopes: Sequence[str]) -> tuple[ApiKey, str]:
    """Create a key; the plain key is returned once and never stored."""
    unknown = set(scopes) - SCOPES
    if unknown:
        raise ApiKeyError(f"unknown scope(s) {sorted(unknown)}; valid scopes are {sorted(SCOPES)}")
    if not name.strip():
        raise ApiKeyError("a key needs a name that says who uses it")
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name.strip(), prefix=plain[:12], key_hash=hash_key(plain), scopes=",".join(sorted(set(scopes))))
    session.add(row)
    session.commit()
    return row, plain


def find_api_key(session: Session, plain: str) -> ApiKey | None:
    """The active key matching ``plain`` (constant-time comparison of the hashes)."""
    digest = hash_key(plain)
    for row in session.scalars(select(ApiKey).where(ApiKey.prefix == plain[:12], ApiKey.revoked_at.is_(None))):
        if hmac.compare_digest(row.key_hash, digest):
            return row
    return None


def list_api_keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first (their hashes and prefixes, never the keys)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def revoke_api_key(session: Session, key_id: str) -> bool:
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.commit()
    return True
