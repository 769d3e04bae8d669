"""The review queue over JSON, for other tools: list, claim, decide, and pull any item by its record id."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.deps import ReviewerDep, SessionDep
from api.errors import responses
from model.labels import FLAGS, LABELS, Channel
from service.db.models import ClassificationRecord, ReviewItem
from service.db.review import MAX_AGE_HOURS, QueueFilter, claim, claim_next, decide, list_items, pull

router = APIRouter(prefix="/review", tags=["review"])
ERRORS = responses(401, 403, 404, 409, 413, 422, 429, 500, 503)
Target = Literal["query", "complaint", "compliment", "negative", "abusive", "pii", "spam", "staff_named"]


class ReviewItemPublic(BaseModel):
    id: str
    record_id: str
    status: str
    priority: str
    due_at: datetime | None
    reasons: list[str]
    origin: str
    claimed_by: str | None
    claimed_until: datetime | None
    channel: str | None
    labels: list[str]
    flags: dict[str, bool]
    scores: dict[str, float]
    text: str | None = Field(description="the comment as sent (kept for review items until the retention period ends)")
    redacted_text: str | None
    evidence: list[dict]  # type: ignore[type-arg]


class ReviewItemsPublic(BaseModel):
    items: list[ReviewItemPublic]
    count: int


class ReviewDecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: list[Literal["query", "complaint", "compliment", "negative", "abusive", "pii"]] = Field(
        description="the labels that apply, as the moderator decided")
    flags: list[Literal["spam", "staff_named"]] = Field(default_factory=list)
    action: str | None = Field(None, max_length=50)
    note: str | None = Field(None, max_length=1000)


class ReviewDecisionPublic(BaseModel):
    id: str
    item_id: str
    record_id: str
    actor: str
    at: datetime
    model_said: dict  # type: ignore[type-arg]
    decided: dict  # type: ignore[type-arg]


def _public(item: ReviewItem, rec: ClassificationRecord) -> ReviewItemPublic:
    from model.labels import PRIORITY_RANK

    names = {v: k for k, v in PRIORITY_RANK.items()}
    return ReviewItemPublic(
        id=item.id, record_id=rec.id, status=item.status, priority=names.get(item.priority_rank, "low"), due_at=item.due_at,
        reasons=item.reasons, origin=item.origin, claimed_by=item.claimed_by, claimed_until=item.claimed_until,
        channel=rec.channel, labels=rec.labels or [], flags={f: bool((rec.flags or {}).get(f)) for f in FLAGS},
        scores=rec.scores, text=rec.text, redacted_text=rec.redacted_text, evidence=rec.evidence or [])


def _item_public(session: Session, item: ReviewItem) -> ReviewItemPublic:
    rec = session.get(ClassificationRecord, item.classification_id)
    assert rec is not None
    return _public(item, rec)


@router.get("/items", response_model=ReviewItemsPublic, responses=ERRORS)
def get_items(actor: ReviewerDep, session: SessionDep, label: Target | None = None, channel: Channel | None = None,
              min_age_hours: float | None = Query(None, ge=0, le=MAX_AGE_HOURS), overdue: bool = False,
              status: Literal["open", "decided"] = "open", limit: int = Query(50, ge=1, le=500)) -> ReviewItemsPublic:
    rows = list_items(session, QueueFilter(label=label, channel=channel, min_age_hours=min_age_hours, overdue=overdue,
                                           status=status, limit=limit))
    return ReviewItemsPublic(items=[_public(i, r) for i, r in rows], count=len(rows))


@router.post("/items/next/claim", response_model=ReviewItemPublic | None, responses=ERRORS)
def claim_next_item(actor: ReviewerDep, session: SessionDep) -> ReviewItemPublic | None:
    item = claim_next(session, actor)
    if item is None:
        return None
    return _item_public(session, item)


@router.post("/items/{item_id}/claim", response_model=ReviewItemPublic, responses=ERRORS)
def claim_item(item_id: str, actor: ReviewerDep, session: SessionDep) -> ReviewItemPublic:
    item = claim(session, item_id, actor)  # a refusal is answered by api.errors.review_refused
    return _item_public(session, item)


@router.post("/items/{item_id}/decision", response_model=ReviewDecisionPublic, responses=ERRORS)
def decide_item(item_id: str, body: ReviewDecisionCreate, actor: ReviewerDep, session: SessionDep) -> ReviewDecisionPublic:
    entry = decide(session, item_id, actor, labels=body.labels, flags=body.flags, action=body.action, note=body.note)
    return ReviewDecisionPublic(id=entry.id, item_id=item_id, record_id=entry.classification_id or "", actor=entry.actor,
                                at=entry.at, model_said=entry.model_said or {}, decided=entry.decided or {})


@router.post("/records/{record_id}/pull", response_model=ReviewItemPublic, responses=ERRORS)
def pull_record(record_id: str, actor: ReviewerDep, session: SessionDep) -> ReviewItemPublic:
    item = pull(session, record_id, actor)
    return _item_public(session, item)


__all__ = ["router", "LABELS"]
