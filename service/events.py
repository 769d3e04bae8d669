"""Events out: what sift tells other systems, to whom, and how it is signed. One vocabulary, defined here.

The data team names the subscribers in a YAML file (``SIFT_EVENTS_FILE``): each has a URL, the event types
it wants, and the name of the environment variable that holds its signing secret (secrets stay out of the
file and out of the repository)::

    base_url: https://sift.example.org        # optional: review links in payloads are absolute
    subscribers:
      - name: crm
        url: https://crm.example.org/hooks/sift
        events: [action.due, review.decided]
        secret_env: SIFT_EVENTS_CRM_SECRET      # whsec_ + base64 of 24 to 64 random bytes

An event is a row of ``event_deliveries`` per subscriber that wants it, written in the same transaction as
what it reports (:func:`emit`; for classifications :func:`classification_rows`, which
:func:`service.comments.rows` calls so the rows travel through the durable outbox file too). Nothing is
written when no subscriber wants the type. :mod:`api.events` sends them, signed as the Standard Webhooks
specification says (:func:`signed_headers`), and retries; the event id is the subscriber's de-duplication key.

Payloads carry record ids, labels, actions, deadlines and links to the review item; never a comment's text,
an author's id or a moderator's note.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, get_args
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from sqlalchemy import exists, insert, select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from model.yamlfiles import StrictModel, load_yaml
from service.db.item_context import web_address
from service.db.models import AuditEntry, ClassificationRecord, EventDelivery, ReviewItem, utcnow
from service.settings import is_loopback

if TYPE_CHECKING:
    from service.comments import Rows

logger = logging.getLogger(__name__)

EventType = Literal["classification.made", "action.due", "sla.at_risk", "sla.breached", "review.decided", "model.promoted"]
EVENT_TYPES: Final[tuple[EventType, ...]] = get_args(EventType)
DESCRIPTIONS: Final[dict[EventType, str]] = {
    "classification.made": "a comment was classified and stored",
    "action.due": "the policy decided actions for a comment (remove, reply, escalate...)",
    "sla.at_risk": "an open review item's deadline is near (SIFT_EVENTS_SLA_WARNING_MINUTES)",
    "sla.breached": "an open review item's deadline has passed with no decision",
    "review.decided": "a moderator decided a review item",
    "model.promoted": "a model version became the current one",
}
SESSION_KEY = "sift.events"  # where a session carries its subscribers (Session.info)
SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)  # the specification: at least 24 bytes, at most 512 bits
_NAMESPACE = uuid.UUID("3f0c6a4e-52a1-4b7e-9d0e-7c2f5b8e1a90")  # for event ids derived from what they report
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EventsConfigError(ValueError):
    """The events file (or a subscriber's secret) is invalid; the message names the file, key or variable."""


class SubscriberSpec(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$", description="lower-case letters, digits, - and _")
    url: str = Field(max_length=2000)
    events: list[EventType] = Field(min_length=1)
    secret_env: str

    @field_validator("events", mode="before")
    @classmethod
    def _known(cls, value: object) -> object:
        unknown = [v for v in value if v not in EVENT_TYPES] if isinstance(value, list) else []
        if unknown:
            raise ValueError(f"unknown event types {unknown}; the types are {', '.join(EVENT_TYPES)}")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not web_address(value):
            raise ValueError(f"url must be an http:// or https:// address with a host, not {value!r}")
        return value

    @field_validator("secret_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not _ENV_NAME.fullmatch(value):
            raise ValueError(f"secret_env names an environment variable (letters, digits, _), not {value!r}; the "
                             "secret itself never goes in this file")
        return value


class EventsFile(StrictModel):
    base_url: str | None = Field(None, pattern=r"^https?://", description="sift's address, for absolute review links")
    subscribers: list[SubscriberSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> EventsFile:
        names = [s.name for s in self.subscribers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"subscriber names must be unique; repeated: {twice}")
        return self


def parse_secret(value: str, where: str) -> bytes:
    """A Standard Webhooks secret (``whsec_`` + base64 of 24 to 64 bytes) as its bytes, or EventsConfigError."""
    if not value.startswith(SECRET_PREFIX):
        raise EventsConfigError(f"{where} must start with {SECRET_PREFIX} (a Standard Webhooks secret); make one with "
                                "python -c \"import base64,os; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\"")
    try:
        raw = base64.b64decode(value[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise EventsConfigError(f"{where}: the part after {SECRET_PREFIX} is not valid base64") from None
    low, high = SECRET_BYTES
    if not low <= len(raw) <= high:
        raise EventsConfigError(f"{where} holds {len(raw)} bytes; a secret must be {low} to {high} random bytes")
    return raw


@dataclass(frozen=True)
class Subscribers:
    """The subscribers of one events file. ``secrets`` is filled by :meth:`with_secrets` (the sender needs them;
    writing events does not)."""

    specs: tuple[SubscriberSpec, ...]
    base_url: str | None = None
    secrets: Mapping[str, bytes] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Subscribers:
        parsed = load_yaml(path, EventsFile, error=EventsConfigError, what="events file")
        for spec in parsed.subscribers:
            host = urlsplit(spec.url).hostname or ""
            if spec.url.startswith("http://") and not is_loopback(host):
                logger.warning("subscriber %s is reached over plain http: payloads travel unencrypted (signed, but readable)",
                               spec.name)
        return cls(tuple(parsed.subscribers), parsed.base_url.rstrip("/") if parsed.base_url else None)

    def with_secrets(self, environ: Mapping[str, str] | None = None) -> Subscribers:
        """These subscribers with their secrets read from the environment; EventsConfigError naming the
        variable when one is missing or malformed (the service refuses to start)."""
        env = os.environ if environ is None else environ
        secrets = {}
        for spec in self.specs:
            value = env.get(spec.secret_env)
            if not value:
                raise EventsConfigError(f"subscriber {spec.name}: the environment variable {spec.secret_env} (its signing "
                                        "secret) is not set")
            secrets[spec.name] = parse_secret(value.strip(), f"{spec.secret_env} (subscriber {spec.name})")
        return Subscribers(self.specs, self.base_url, secrets)

    def wanting(self, kind: EventType) -> list[SubscriberSpec]:
        return [s for s in self.specs if kind in s.events]

    def get(self, name: str) -> SubscriberSpec | None:
        return next((s for s in self.specs if s.name == name), None)

    def review_link(self, item_id: str | None) -> str | None:
        if item_id is None:
            return None
        return f"{self.base_url or ''}/review/items/{item_id}"


def subscribers_of(session: Session) -> Subscribers | None:
    """The subscribers a session writes events for (its factory's ``info``), or None."""
    found = session.info.get(SESSION_KEY)
    return found if isinstance(found, Subscribers) else None


# --- signing (https://www.standardwebhooks.com, spec/standard-webhooks.md) ---

def body_of(payload: Mapping[str, Any]) -> bytes:
    """The bytes sent, and signed: minified JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(secret: bytes, event_id: str, body: bytes, *, now: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt: ``webhook-signature`` is ``v1,`` and the base64 HMAC-SHA256
    of ``{id}.{timestamp}.{body}``. The timestamp is the attempt's (a retry is signed afresh)."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    signature = Webhook(secret).sign(event_id, when, body.decode())
    return {"webhook-id": event_id, "webhook-timestamp": str(int(when.timestamp())), "webhook-signature": signature,
            "content-type": "application/json"}


# --- writing events ---

def envelope(kind: EventType, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The payload as the specification recommends: ``type``, ``timestamp`` (when it happened), ``data``."""
    return {"type": kind, "timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"), "data": data}


def delivery_rows(subscribers: Subscribers, kind: EventType, data: dict[str, Any], *, at: datetime,
                  classification_id: str | None = None, item_id: str | None = None,
                  event_id: str | None = None) -> list[dict[str, Any]]:
    """One row per subscriber that wants ``kind`` (none when nobody does), all with the same event id."""
    wanting = subscribers.wanting(kind)
    if not wanting:
        return []
    event = event_id or str(uuid.uuid4())
    payload = envelope(kind, data, at)
    return [{"id": str(uuid.uuid4()), "event_id": event, "type": kind, "subscriber": spec.name,
             "classification_id": classification_id, "item_id": item_id, "payload": payload, "created_at": at,
             "status": "pending", "attempts": 0, "next_attempt_at": at, "claimed_by": None, "claimed_until": None,
             "last_error": None, "delivered_at": None} for spec in wanting]


def emit(session: Session, kind: EventType, data: dict[str, Any], *, subscribers: Subscribers | None = None,
         at: datetime | None = None, classification_id: str | None = None, item_id: str | None = None,
         event_id: str | None = None) -> int:
    """Add the event to the caller's transaction (the caller commits); how many deliveries were written.
    ``subscribers`` defaults to the session's (:func:`subscribers_of`). With ``event_id`` given, a delivery
    already written for it is left alone, so two workers firing the same event write it once."""
    subscribers = subscribers or subscribers_of(session)
    if subscribers is None:
        return 0
    rows = delivery_rows(subscribers, kind, data, at=at or utcnow(), classification_id=classification_id,
                         item_id=item_id, event_id=event_id)
    if not rows:
        return 0
    if event_id is None:
        session.execute(insert(EventDelivery), rows)
        return len(rows)
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):  # pragma: no cover - sift runs on SQLite and PostgreSQL
        raise RuntimeError(f"events need SQLite or PostgreSQL, not {dialect}")
    statement = (postgresql.insert(EventDelivery) if dialect == "postgresql" else sqlite.insert(EventDelivery))
    written = 0
    for row in rows:  # one by one, each saying whether it was written (rowcount is -1 on PostgreSQL here)
        written += len(session.execute(statement.values(row).on_conflict_do_nothing(
            index_elements=["event_id", "subscriber"]).returning(EventDelivery.id)).all())
    return written


def _iso(value: object) -> str | None:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else None


def _true_flags(flags: Mapping[str, Any] | None) -> list[str]:
    return sorted(k for k, v in (flags or {}).items() if v is True)


def classification_rows(subscribers: Subscribers | None, rows: Rows) -> list[dict[str, Any]]:
    """The ``classification.made`` and ``action.due`` deliveries for the records of ``rows`` (from
    :func:`service.comments.rows`); none without subscribers for them, so /classify pays nothing then."""
    if subscribers is None or not (subscribers.wanting("classification.made") or subscribers.wanting("action.due")):
        return []
    items = {r["classification_id"]: r["id"] for r in rows.get(ReviewItem.__tablename__, [])}
    out: list[dict[str, Any]] = []
    for record in rows.get(ClassificationRecord.__tablename__, []):
        item_id = items.get(record["id"])
        policy = record.get("policy") or {}
        common = {"record_id": record["id"], "comment_id": record.get("external_id"), "channel": record.get("channel"),
                  "priority": record.get("priority"), "respond_by": _iso(record.get("respond_by")),
                  "review_item_id": item_id, "review_url": subscribers.review_link(item_id)}
        out += delivery_rows(subscribers, "classification.made", {
            **common, "labels": list(record.get("labels") or []), "flags": _true_flags(record.get("flags")),
            "scores": record.get("scores") or {}, "source": record.get("source"),
            "model_version": record.get("model_version"), "needs_review": bool(record.get("needs_review"))},
            at=record["created_at"], classification_id=record["id"], item_id=item_id)
        actions = policy.get("actions") or []
        if actions:
            sla = policy.get("sla") or {}
            out += delivery_rows(subscribers, "action.due", {
                **common, "actions": [{"action": a.get("action"), "reason": a.get("reason"), "rule": a.get("rule")}
                                      for a in actions],
                "route_to": policy.get("route_to"), "acknowledge_by": sla.get("acknowledge_by"),
                "emergency": policy.get("emergency")},
                at=record["created_at"], classification_id=record["id"], item_id=item_id)
    return out


def decision_made(session: Session, item: ReviewItem, record: ClassificationRecord, entry: AuditEntry) -> int:
    """``review.decided`` for a moderator's decision, in the decision's transaction (the note is not sent:
    it may quote the comment)."""
    subscribers = subscribers_of(session)
    if subscribers is None or not subscribers.wanting("review.decided"):
        return 0
    said, decided = entry.model_said or {}, entry.decided or {}
    changed = sorted(said.get("labels", [])) != sorted(decided.get("labels", [])) or \
        sorted(said.get("flags", [])) != sorted(decided.get("flags", []))
    return emit(session, "review.decided", {
        "review_item_id": item.id, "record_id": record.id, "comment_id": record.external_id, "channel": record.channel,
        "moderator": entry.actor, "labels": decided.get("labels", []), "flags": decided.get("flags", []),
        "action": decided.get("action"), "model_labels": said.get("labels", []), "model_flags": said.get("flags", []),
        "model_overturned": changed, "audit_id": entry.id, "review_url": subscribers.review_link(item.id)},
        subscribers=subscribers, at=item.decided_at, classification_id=record.id, item_id=item.id)


def model_promoted(session: Session, promotion: Mapping[str, Any]) -> int:
    """``model.promoted`` for one entry of the registry's promotion history (version, previous, at, reason)."""
    at = datetime.fromisoformat(promotion["at"]) if isinstance(promotion.get("at"), str) else utcnow()
    return emit(session, "model.promoted", {key: promotion.get(key) for key in ("version", "previous", "reason")}, at=at)


# --- deadlines ---

def check_deadlines(session: Session, subscribers: Subscribers, *, now: datetime, warning: timedelta,
                    limit: int = 500) -> dict[str, int]:
    """Fire ``sla.at_risk`` for open review items due within ``warning`` of ``now``, and ``sla.breached`` for
    those past due: each once per item (the event id is derived from the item and its deadline, so two
    workers running the check at once write it once). Commits; returns how many deliveries each type wrote.
    A subscriber added later gets the deadlines that pass from then on."""
    fired: dict[str, int] = {}
    windows: Sequence[tuple[EventType, Any]] = (
        ("sla.at_risk", (ReviewItem.due_at > now) & (ReviewItem.due_at <= now + warning)),
        ("sla.breached", ReviewItem.due_at <= now))
    for kind, window in windows:
        if not subscribers.wanting(kind):
            continue
        already = exists().where(EventDelivery.item_id == ReviewItem.id, EventDelivery.type == kind)
        query = (select(ReviewItem, ClassificationRecord)
                 .join(ClassificationRecord, ClassificationRecord.id == ReviewItem.classification_id)
                 .where(ReviewItem.status == "open", ReviewItem.due_at.is_not(None), window, ~already)
                 .order_by(ReviewItem.due_at).limit(limit))
        count = 0
        for item, record in session.execute(query).all():
            assert item.due_at is not None
            due = item.due_at.astimezone(UTC)
            count += emit(session, kind, {
                "review_item_id": item.id, "record_id": record.id, "comment_id": record.external_id,
                "channel": record.channel, "priority": record.priority, "due_at": due.isoformat(),
                "minutes_left" if kind == "sla.at_risk" else "minutes_overdue": round(abs((due - now).total_seconds()) / 60, 1),
                "review_url": subscribers.review_link(item.id)},
                subscribers=subscribers, at=now, classification_id=record.id, item_id=item.id,
                event_id=str(uuid.uuid5(_NAMESPACE, f"{kind}:{item.id}:{due.isoformat()}")))
        fired[kind] = count
    session.commit()
    return fired
