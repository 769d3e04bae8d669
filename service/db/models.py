"""Database tables: API keys and the record of every classification."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every database (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    """A caller's key, stored as a SHA-256 hash (keys are long random tokens, not passwords)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200), default="classify")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ClassificationRecord(Base):
    """What was decided about one comment, by which source and model version, and when.

    The text itself is kept only for items that need review (moderators read it);
    other items keep the decision and a hash of the text.
    """

    __tablename__ = "classifications"
    __table_args__ = (Index("ix_classifications_review", "needs_review", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    external_id: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    channel: Mapped[str | None] = mapped_column(String(20), nullable=True)
    author_hash: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    labels: Mapped[list[str]] = mapped_column(JSON)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    flags: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(10))
    model_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    review_reasons: Mapped[list[str]] = mapped_column(JSON)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    text_sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    redacted_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    priority: Mapped[str | None] = mapped_column(String(10), nullable=True)
    respond_by: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    url: Mapped[str | None] = mapped_column(String(2000), nullable=True)  # the comment on its platform
    parent_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    parent_text: Mapped[str | None] = mapped_column(Text, nullable=True)  # kept, like text, only for review


class AuthorOffence(Base):
    """A post removed under the policy, kept against the author's keyed hash (never the author in clear)."""

    __tablename__ = "author_offences"
    __table_args__ = (Index("ix_author_offences_author", "author_hash", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    author_hash: Mapped[str] = mapped_column(String(64))
    classification_id: Mapped[str] = mapped_column(String(36), index=True)
    reason: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cleared_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class User(Base):
    """A moderator (or admin) who signs in to the review pages; the password is an argon2 hash."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="moderator")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class ReviewItem(Base):
    """A classification waiting for (or given) a moderator's decision."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_queue", "status", "priority_rank", "due_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    classification_id: Mapped[str] = mapped_column(String(36), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open, decided
    priority_rank: Mapped[int] = mapped_column(default=4)  # 0 urgent ... 4 low
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    origin: Mapped[str] = mapped_column(String(20), default="uncertain")  # uncertain, suggested, pulled
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEntry(Base):
    """Append-only: who did what to which item, what the model said and what the moderator decided."""

    __tablename__ = "audit_log"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(30))  # decision, claim, pulled
    item_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)
    classification_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)
    model_said: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    decided: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class UserSession(Base):
    """A moderator's signed-in session. The browser holds a random id; only its SHA-256 is stored, so a copy
    of this table signs nobody in. Ended by ``revoked_at`` (sign-out, password change, disabled account),
    by ``expires_at`` (the absolute limit) or by ``last_seen_at`` falling behind the idle limit."""

    __tablename__ = "user_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RateLimitCounter(Base):
    """One fixed-window counter of the sign-in limits, shared by every worker when there is no Redis.
    The key names the limit and a keyed hash of the username or address, never either in clear."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # Unix time: compared with time.time()


class EventDelivery(Base):
    """One event for one subscriber: the outbox of events out (:mod:`service.events`, :mod:`api.events`).

    Written in the same transaction as what it reports, so an event is never sent about something that was
    not stored, nor lost when a subscriber is down. ``event_id`` is the event's own id (the ``webhook-id``
    the subscriber de-duplicates on), the same for every subscriber and every attempt. A worker claims a row
    by setting ``claimed_by`` and ``claimed_until`` (a lease: if the worker dies, another sends it again)."""

    __tablename__ = "event_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "subscriber", name="uq_event_deliveries_event_subscriber"),
                      Index("ix_event_deliveries_due", "status", "next_attempt_at"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    type: Mapped[str] = mapped_column(String(40))
    subscriber: Mapped[str] = mapped_column(String(100))
    classification_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)  # the comment it is about
    item_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)  # the review item it is about
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the body as sent: type, timestamp, data
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, delivered, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)  # "HTTP 503", "ConnectError"
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class InboundEvent(Base):
    """A platform's event (a comment, keyed by its id and words) that a webhook or the YouTube poller brought:
    one row per (platform, key), so a replay finds it and nothing is decided twice (service.db.inbound). The
    row is ``claimed`` while its comment is decided and ``decided`` once it is stored; ``record_id`` is the
    classification it became."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("platform", "event_key", name="uq_inbound_events_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    platform: Mapped[str] = mapped_column(String(20))
    event_key: Mapped[str] = mapped_column(String(300))
    external_id: Mapped[str] = mapped_column(String(200))  # the platform's comment id
    record_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(10), default="claimed")  # claimed, decided
    claim: Mapped[str] = mapped_column(String(36))  # the attempt holding it (a token per request)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class UnknownPayload(Base):
    """A platform payload sift could not read, kept byte for byte for an admin (``sift webhooks unknown``) with
    what was wrong; purged after the retention period like comment texts. The same body delivered again (a
    platform retrying) is one row, counted."""

    __tablename__ = "webhook_unknown"
    __table_args__ = (UniqueConstraint("body_sha256", name="uq_webhook_unknown_body"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    platform: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    body_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    last_received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    times: Mapped[int] = mapped_column(Integer, default=1)
