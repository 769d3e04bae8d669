"""Decide and store: the one path a comment takes, whichever door it came in by.

A :class:`Submission` (text, channel, author, ids, posted time) goes in; a :class:`Decided` comes out: the
classification, the policy's decision and the author's keyed hash. :func:`store` then writes it (the
classification record, the removal counted against its author, the review item) and returns the record
ids. ``POST /classify``, ``sift classify``, ``sift batch`` and ``sift review suggest`` all call these:

    decided = classify(pipeline, policy, submissions)             # the model, the rules, then the policy
    record_ids = store(session, decided)                           # one transaction; the caller commits

The web app splits the first step so the model runs in its micro-batcher (:func:`decide` takes the
results) and the second so concurrent requests share one commit (its group writer calls :func:`store`).
The policy runs beside the model, never inside the writer: a decision does not queue behind the database.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from model.labels import PRIORITY_RANK, Channel
from model.pipeline import MAX_TEXT_CHARS, Pipeline
from model.policy.engine import PolicyDecision, PolicyEngine
from model.policy.history import NoHistory, OffenceHistory
from model.result import Classification, plain
from service.db.models import AuthorOffence, ClassificationRecord, EventDelivery, ReviewItem, utcnow
from service.events import Subscribers, classification_rows, subscribers_of

Origin = Literal["uncertain", "suggested"]  # why an item is in the review queue

# What str.strip() removes (str.isspace), spelt out so the spec's pattern and this check agree in every regex engine.
_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
HAS_WORDS = f"[^{_SPACE}]"  # a text must hold one character that is not white space
_ISO_WITH_ZONE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)")


class Submission(BaseModel):
    """One comment to classify. Only ``text`` is required. Fields a file line carries beside these (its
    labels, say) are ignored; the HTTP schema (``api.schemas.ClassifyRequest``) forbids them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description=f"the comment, 1 to {MAX_TEXT_CHARS} characters, "
                      "not only white space", json_schema_extra={"pattern": HAS_WORDS})
    channel: Channel | None = None
    author_id: str | None = Field(None, max_length=200, description="the platform's id for the author (stored only as a keyed hash)")
    id: str | None = Field(None, max_length=200, description="your id for the comment, echoed back")
    posted_at: datetime | None = Field(None, description="when it was posted (ISO 8601 with a time zone)")
    # Where the comment lives, for the moderator's page (the platform adapters fill these in).
    url: str | None = Field(None, max_length=2000, pattern=r"^https?://", description="the comment's address on its "
                            "platform (http or https), shown to moderators as a link")
    parent_id: str | None = Field(None, max_length=200, description="the platform's id for the post it answers")
    parent_text: str | None = Field(None, max_length=MAX_TEXT_CHARS, description="the text of the post it answers, "
                                    "shown to moderators beside the comment (kept only while the comment is in review)")

    @field_validator("text")
    @classmethod
    def _has_words(cls, value: str) -> str:
        if not re.search(HAS_WORDS, value):
            raise ValueError("text is only whitespace; send the comment's words")
        return value

    @field_validator("posted_at", mode="before")
    @classmethod
    def _iso_with_zone(cls, value: object) -> object:
        """Strictly ISO 8601 with a time zone: a bare number, a date alone or a local time would be guessed at."""
        if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
            return value
        if not isinstance(value, str) or not _ISO_WITH_ZONE.fullmatch(value.strip()):
            raise ValueError("posted_at must be an ISO 8601 datetime with a time zone, e.g. 2026-11-28T10:00:00Z "
                             f"or 2026-11-28T10:00:00+00:00; got {value!r}")
        return value.strip()


class SubmissionError(ValueError):
    """A line of a file is not a valid submission; the message names the field and what to fix."""

    def __init__(self, message: str, *, id: str | None = None):
        super().__init__(message)
        self.id = id


def explain(exc: ValidationError) -> str:
    """Pydantic's errors as one sentence a person can act on: each field and what is wrong with it."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "the comment"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def submission(**fields: Any) -> Submission:
    """A submission from keyword fields (a command's arguments), or a SubmissionError naming what to fix."""
    try:
        return Submission(**fields)
    except ValidationError as exc:
        raise SubmissionError(explain(exc)) from None


def parse_line(line: str) -> Submission:
    """A submission from one JSON Lines line (the same checks as ``POST /classify``), or a SubmissionError."""
    try:
        return Submission.model_validate_json(line)
    except ValidationError as exc:
        kinds = {err["type"] for err in exc.errors()}
        if "json_invalid" in kinds:
            raise SubmissionError("not valid JSON: " + "; ".join(err["msg"].removeprefix("Invalid JSON: ")
                                                                  for err in exc.errors())) from None
        if "model_type" in kinds:
            raise SubmissionError("each line must be a JSON object with a \"text\" field") from None
        raise SubmissionError(explain(exc), id=_id_of(line)) from None


def _id_of(line: str) -> str | None:
    import json

    try:
        value = json.loads(line).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def author_hash(secret: bytes, channel: str | None, author_id: str | None) -> str | None:
    """A keyed hash of the author, so repeat offenders are recognised without storing who they are."""
    if not author_id:
        return None
    return hmac.new(secret, f"{channel or 'other'}:{author_id}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Decided:
    """A comment with its classification and the policy's decision: what every entry point returns."""

    submission: Submission
    result: Classification
    decision: PolicyDecision
    author_hash: str | None
    received_at: datetime
    # Made when the comment is decided, before any attempt to store it: a row written late (from the
    # outbox, after an outage) or twice (a replay after a crash) keeps one id and cannot be duplicated.
    record_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def public(self) -> dict[str, Any]:
        """The answer's fields (API, CLI and batch alike): the caller's id, the tags, the policy's actions, and
        what storing it changed."""
        return {"id": self.submission.id, **self.result.to_dict(), **self.decision.public_fields(),
                "stored_changes": stored_changes(self.submission)}


HistoryScope = Callable[[], AbstractContextManager[OffenceHistory]]


@contextmanager
def no_history() -> Iterator[OffenceHistory]:
    yield NoHistory()


def decide(policy: PolicyEngine, submissions: Sequence[Submission], results: Sequence[Classification], *,
           secret: bytes | None = None, history: HistoryScope = no_history, now: datetime | None = None) -> list[Decided]:
    """Apply the policy to classified submissions. ``history`` opens the repeat-offender record for the
    duration (the database's, in the service); without a ``secret`` authors are not recognised."""
    received = now or datetime.now(UTC)
    out = []
    with history() as offences:
        for submission, result in zip(submissions, results, strict=True):
            author = author_hash(secret, submission.channel, submission.author_id) if secret else None
            decision = policy.decide(result, submission.text, channel=submission.channel, posted_at=submission.posted_at,
                                     author_hash=author, history=offences, now=received)
            out.append(Decided(submission, result, decision, author, received))
    return out


def classify(pipeline: Pipeline, policy: PolicyEngine, submissions: Sequence[Submission], *, secret: bytes | None = None,
             history: HistoryScope = no_history, now: datetime | None = None) -> list[Decided]:
    """The model and the rules, then the policy, for each submission."""
    results = pipeline.classify_many([s.text for s in submissions]) if submissions else []
    return decide(policy, submissions, results, secret=secret, history=history, now=now)


_UNSTORABLE = "\x00"  # PostgreSQL text cannot hold NUL; SQLite can, but one rule for both


def storable(value: str | None) -> str | None:
    """The value with characters the database cannot store replaced by U+FFFD (the pipeline ignores them anyway)."""
    if value is None or _UNSTORABLE not in value:
        return value
    return value.replace(_UNSTORABLE, "\ufffd")


def stored_changes(submission: Submission) -> list[str]:
    """What the stored copy of a submission will differ in from what was sent (said in the answer, so a caller
    who sent a NUL knows the stored text is not byte for byte theirs)."""
    changes = []
    for name in ("text", "id", "parent_id", "parent_text"):  # the author id is stored only as a keyed hash
        value = getattr(submission, name)
        count = value.count(_UNSTORABLE) if isinstance(value, str) else 0
        if count:
            changes.append(f"{name}: {count} NUL character{'s' if count > 1 else ''} replaced by U+FFFD "
                           f"(the database cannot store NUL)")
    return changes


Rows = dict[str, list[dict[str, Any]]]  # table name -> rows to insert, as plain values


def rows(decided: Sequence[Decided], *, origin: Origin = "uncertain", events: Subscribers | None = None) -> Rows:
    """The rows that store ``decided``: the classification records, the removals counted against their
    authors, the review items, and the events that report them to ``events``' subscribers (none when no
    subscriber wants them). Every id is fixed here, so the same rows can be written later (from the outbox)
    without being duplicated."""
    now = utcnow()
    records: list[dict[str, Any]] = []
    offences: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    for item in decided:
        result, decision, submission = item.result, item.decision, item.submission
        queued = result.needs_review or origin == "suggested"
        reasons = list(result.review_reasons) or (["suggested: among the most uncertain and most diverse"] if queued else [])
        posted_at = submission.posted_at or item.received_at
        due = datetime.fromisoformat(decision.sla.respond_by) if decision.sla and decision.sla.respond_by else None
        record_id = item.record_id
        records.append({
            "id": record_id, "created_at": now, "external_id": storable(submission.id), "channel": submission.channel,
            "author_hash": item.author_hash, "posted_at": posted_at, "labels": result.labels, "scores": result.scores,
            "flags": {**result.flags, **{f"{k}_score": v for k, v in result.flag_scores.items()}},
            "source": result.source, "model_version": result.model_version, "needs_review": queued,
            "review_reasons": reasons, "evidence": plain(result.evidence),
            "text_sha256": hashlib.sha256(submission.text.encode()).hexdigest(),
            "text": storable(submission.text) if queued else None,
            "redacted_text": storable(result.redacted_text) if queued else None,
            "policy": decision.to_dict(), "priority": decision.priority, "respond_by": due,
            "url": submission.url, "parent_id": storable(submission.parent_id),
            "parent_text": storable(submission.parent_text) if queued else None,
        })
        if decision.removal_reasons and item.author_hash:
            offences.extend({"id": str(uuid.uuid4()), "author_hash": item.author_hash, "classification_id": record_id,
                             "reason": reason, "created_at": posted_at}
                            for reason in dict.fromkeys(decision.removal_reasons))
        if queued:  # a new record: it cannot be queued already
            reviews.append({"id": str(uuid.uuid4()), "classification_id": record_id, "status": "open", "origin": origin,
                            "priority_rank": PRIORITY_RANK.get(decision.priority, PRIORITY_RANK["low"]),
                            "due_at": due, "reasons": reasons, "created_at": now})
    out = {ClassificationRecord.__tablename__: records, AuthorOffence.__tablename__: offences,
           ReviewItem.__tablename__: reviews}
    deliveries = classification_rows(events, out)
    if deliveries:
        out[EventDelivery.__tablename__] = deliveries
    return out


_TABLES = {model.__tablename__: model for model in (ClassificationRecord, AuthorOffence, ReviewItem, EventDelivery)}


def drop_records(rows: Rows, ids: set[str]) -> Rows:
    """``rows`` less the classification records whose id is in ``ids``, with the offences, review items and
    events that belong to them (``rows`` itself when there is nothing to drop)."""
    if not ids:
        return rows
    return {table: [r for r in table_rows
                    if (r["id"] if table == ClassificationRecord.__tablename__ else r["classification_id"]) not in ids]
            for table, table_rows in rows.items()}


def insert_rows(session: Session, rows: Rows, *, skip_existing: bool = False) -> list[str]:
    """Insert ``rows`` (from :func:`rows`) and return the record ids; the caller commits. With
    ``skip_existing`` a record already stored is left alone with its offences and review item (they were
    written in the same transaction), so writing the same rows again changes nothing.

    Rows go in as bulk INSERTs (one statement a table, no unit of work): on the request path the ORM's
    per-object bookkeeping cost more than the database did."""
    records = rows.get(ClassificationRecord.__tablename__, [])
    ids = [r["id"] for r in records]
    if skip_existing and ids:
        rows = drop_records(rows, set(session.scalars(select(ClassificationRecord.id)
                                                      .where(ClassificationRecord.id.in_(ids)))))
    for table in _TABLES:
        if rows.get(table):
            session.execute(insert(_TABLES[table]), rows[table])
    return ids


def store(session: Session, decided: Sequence[Decided], *, origin: Origin = "uncertain") -> list[str]:
    """Store each decision; text is kept only when a moderator will need to read it. Removals count against
    their author; uncertain items (or, with ``origin="suggested"``, every item) join the review queue; the
    session's event subscribers are told. The caller commits: the service shares one commit among concurrent
    requests."""
    return insert_rows(session, rows(decided, origin=origin, events=subscribers_of(session)))
