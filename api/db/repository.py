"""Reading and writing the service's records (keys, classifications)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import ApiKey, ClassificationRecord, utcnow
from api.db.offences import record_offences
from api.db.review import enqueue
from model.result import Classification

KEY_PREFIX = "sift_"
SCOPES = frozenset({"classify", "review", "admin"})


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, name: str, scopes: Sequence[str]) -> tuple[ApiKey, str]:
    """Create a key; the plain key is returned once and never stored."""
    unknown = set(scopes) - SCOPES
    if unknown:
        raise ValueError(f"unknown scope(s) {sorted(unknown)}; valid scopes are {sorted(SCOPES)}")
    if not name.strip():
        raise ValueError("a key needs a name that says who uses it")
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


def revoke_api_key(session: Session, key_id: str) -> bool:
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.commit()
    return True


def author_hash(secret: bytes, channel: str | None, author_id: str | None) -> str | None:
    """A keyed hash of the author, so repeat offenders are recognised without storing who they are."""
    if not author_id:
        return None
    return hmac.new(secret, f"{channel or 'other'}:{author_id}".encode(), hashlib.sha256).hexdigest()


def record_classifications(session: Session, items: Sequence[tuple[str, Classification, dict]],  # type: ignore[type-arg]
                           *, commit: bool = True) -> list[str]:
    """Store each decision (and its policy, when given); text is kept only when a moderator will need to read it.
    With ``commit=False`` the caller commits (a group commit shared by several requests)."""
    rows = []
    for text, result, meta in items:
        posted_at: datetime | None = meta.get("posted_at")
        decision = meta.get("policy")
        respond_by = decision.sla.respond_by if decision is not None and decision.sla else None
        rows.append(ClassificationRecord(
            external_id=meta.get("id"), channel=meta.get("channel"), author_hash=meta.get("author_hash"),
            posted_at=posted_at, labels=result.labels, scores=result.scores,
            flags={**result.flags, **{f"{k}_score": v for k, v in result.flag_scores.items()}},
            source=result.source, model_version=result.model_version, needs_review=result.needs_review,
            review_reasons=result.review_reasons, evidence=[asdict(e) for e in result.evidence],
            text_sha256=hashlib.sha256(text.encode()).hexdigest(),
            text=text if result.needs_review else None,
            redacted_text=result.redacted_text if result.needs_review else None,
            policy=decision.to_dict() if decision is not None else None,
            priority=decision.priority if decision is not None else None,
            respond_by=datetime.fromisoformat(respond_by) if respond_by else None,
        ))
    session.add_all(rows)
    session.flush()
    for row, (_, _, meta) in zip(rows, items, strict=True):
        decision = meta.get("policy")
        if decision is not None and decision.removal_reasons:
            record_offences(session, meta.get("author_hash"), row.id, decision.removal_reasons, meta.get("posted_at"))
        if row.needs_review:
            enqueue(session, row)
    if commit:
        session.commit()
    else:
        session.flush()
    return [row.id for row in rows]
