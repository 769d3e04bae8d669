"""Reading and writing the service's records (keys, classifications)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from service.db.models import ApiKey, AuthorOffence, ClassificationRecord, ReviewItem, utcnow
from service.db.review import PRIORITY_RANK
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


_UNSTORABLE = "\x00"  # PostgreSQL text cannot hold NUL; SQLite can, but one rule for both


def storable(value: str | None) -> str | None:
    """The value with characters the database cannot store replaced by U+FFFD (the pipeline ignores them anyway)."""
    if value is None or _UNSTORABLE not in value:
        return value
    return value.replace(_UNSTORABLE, "\ufffd")


def record_classifications(session: Session, items: Sequence[tuple[str, Classification, dict]],  # type: ignore[type-arg]
                           *, commit: bool = True) -> list[str]:
    """Store each decision (and its policy, when given); text is kept only when a moderator will need to read it.
    Removals count against their author; uncertain items join the review queue. With ``commit=False`` the
    caller commits (a group commit shared by several requests).

    Rows go in as bulk INSERTs (one statement a table, no unit of work): on the request path the ORM's
    per-object bookkeeping cost more than the database did."""
    now = utcnow()
    records: list[dict[str, Any]] = []
    offences: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    for text, result, meta in items:
        posted_at: datetime | None = meta.get("posted_at")
        decision = meta.get("policy")
        respond_by = decision.sla.respond_by if decision is not None and decision.sla else None
        due = datetime.fromisoformat(respond_by) if respond_by else None
        priority = decision.priority if decision is not None else None
        record_id = str(uuid.uuid4())
        records.append({
            "id": record_id, "created_at": now, "external_id": storable(meta.get("id")), "channel": meta.get("channel"),
            "author_hash": meta.get("author_hash"), "posted_at": posted_at, "labels": result.labels, "scores": result.scores,
            "flags": {**result.flags, **{f"{k}_score": v for k, v in result.flag_scores.items()}},
            "source": result.source, "model_version": result.model_version, "needs_review": result.needs_review,
            "review_reasons": result.review_reasons, "evidence": [asdict(e) for e in result.evidence],
            "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "text": storable(text) if result.needs_review else None,
            "redacted_text": storable(result.redacted_text) if result.needs_review else None,
            "policy": decision.to_dict() if decision is not None else None,
            "priority": priority, "respond_by": due,
        })
        if decision is not None and decision.removal_reasons and meta.get("author_hash"):
            offences.extend({"id": str(uuid.uuid4()), "author_hash": meta["author_hash"], "classification_id": record_id,
                             "reason": reason, "created_at": posted_at or now}
                            for reason in dict.fromkeys(decision.removal_reasons))
        if result.needs_review:  # a new record: it cannot be queued already
            reviews.append({"id": str(uuid.uuid4()), "classification_id": record_id, "status": "open", "origin": "uncertain",
                            "priority_rank": PRIORITY_RANK.get(priority or "low", 4), "due_at": due,
                            "reasons": list(result.review_reasons), "created_at": now})
    for model, rows in ((ClassificationRecord, records), (AuthorOffence, offences), (ReviewItem, reviews)):
        if rows:
            session.execute(insert(model), rows)
    if commit:
        session.commit()
    return [r["id"] for r in records]
