"""The review queue over JSON, for other tools: list, claim, decide, decide in bulk, and pull any item by its record id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from api.deps import ReviewerDep, SessionDep
from api.errors import responses
from model.labels import FLAGS, LABELS, Channel
from service.db.bulk import MAX_BULK_ITEMS, BulkAction, BulkPlan, BulkResult, Planned, apply_bulk, plan_bulk
from service.db.item_context import HistoryEntry, author_history, platform_link
from service.db.models import ClassificationRecord, ReviewItem
from service.db.review import MAX_AGE_HOURS, QueueFilter, claim, claim_next, decide, list_items, pull

router = APIRouter(prefix="/review", tags=["review"])
ERRORS = responses(401, 403, 404, 409, 413, 422, 429, 500, 503)
Target = Literal["query", "complaint", "compliment", "negative", "abusive", "pii", "spam", "staff_named"]


class ModeratorDecisionPublic(BaseModel):
    actor: str
    at: datetime
    labels: list[str]
    flags: list[str]
    action: str | None


class AuthorHistoryPublic(BaseModel):
    """Another comment by the same author (the same keyed hash of author id and channel; sift never has the id)."""

    record_id: str
    item_id: str | None = Field(description="its review item; null when it was decided without review")
    status: str | None = Field(description="open or decided; null when it was never in the queue")
    at: datetime = Field(description="when it was posted (or received, when the platform did not say)")
    channel: str | None
    labels: list[str]
    flags: list[str]
    decision: ModeratorDecisionPublic | None = Field(description="the moderator's latest decision, if any")
    redacted_text: str | None = Field(description="the text with personal details masked, while it is kept for review")

    @classmethod
    def of(cls, entry: HistoryEntry) -> AuthorHistoryPublic:
        d = entry.decision
        return cls(record_id=entry.record_id, item_id=entry.item_id, status=entry.status, at=entry.at, channel=entry.channel,
                   labels=entry.labels, flags=entry.flags, redacted_text=entry.redacted_text,
                   decision=ModeratorDecisionPublic(actor=d.actor, at=d.at, labels=d.labels, flags=d.flags, action=d.action)
                   if d else None)


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
    url: str | None = Field(description="the comment on its platform (http or https only; null when unknown)")
    parent_text: str | None = Field(description="the text of the post it answers, when the platform's adapter brought it")
    author_history: list[AuthorHistoryPublic] = Field(description="the author's latest other comments, newest first")


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


def _public(item: ReviewItem, rec: ClassificationRecord, history: list[HistoryEntry]) -> ReviewItemPublic:
    from model.labels import PRIORITY_RANK

    names = {v: k for k, v in PRIORITY_RANK.items()}
    return ReviewItemPublic(
        id=item.id, record_id=rec.id, status=item.status, priority=names.get(item.priority_rank, "low"), due_at=item.due_at,
        reasons=item.reasons, origin=item.origin, claimed_by=item.claimed_by, claimed_until=item.claimed_until,
        channel=rec.channel, labels=rec.labels or [], flags={f: bool((rec.flags or {}).get(f)) for f in FLAGS},
        scores=rec.scores, text=rec.text, redacted_text=rec.redacted_text, evidence=rec.evidence or [],
        url=platform_link(rec.url), parent_text=rec.parent_text, author_history=[AuthorHistoryPublic.of(h) for h in history])


def _item_public(session: Session, item: ReviewItem) -> ReviewItemPublic:
    rec = session.get(ClassificationRecord, item.classification_id)
    assert rec is not None
    return _public(item, rec, author_history(session, [rec])[rec.id])


@router.get("/items", response_model=ReviewItemsPublic, responses=ERRORS)
def get_items(actor: ReviewerDep, session: SessionDep, label: Target | None = None, channel: Channel | None = None,
              min_age_hours: float | None = Query(None, ge=0, le=MAX_AGE_HOURS), overdue: bool = False,
              status: Literal["open", "decided"] = "open", limit: int = Query(50, ge=1, le=500)) -> ReviewItemsPublic:
    rows = list_items(session, QueueFilter(label=label, channel=channel, min_age_hours=min_age_hours, overdue=overdue,
                                           status=status, limit=limit))
    history = author_history(session, [r for _, r in rows])
    return ReviewItemsPublic(items=[_public(i, r, history[r.id]) for i, r in rows], count=len(rows))


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


class ReviewFilterPublic(BaseModel):
    """The queue page's filters; every open item they match is acted on."""

    model_config = ConfigDict(extra="forbid", strict=True)  # as JSON says it: false is not 0 hours

    label: Target | None = None
    channel: Channel | None = None
    min_age_hours: float | None = Field(None, ge=0, le=MAX_AGE_HOURS, allow_inf_nan=False)
    overdue: bool = Field(False, description="only items past their deadline")


def _one_scope_schema(schema: dict[str, Any]) -> None:
    """The schema says "exactly one of filter and item_ids", as the validator does, so clients (and schemathesis)
    know: each is required in one branch, and neither may be null."""
    for name in ("filter", "item_ids"):
        prop = schema["properties"][name]
        prop.update(next(s for s in prop.pop("anyOf") if s.get("type") != "null"))
        prop.pop("default", None)
    schema["oneOf"] = [{"required": ["filter"]}, {"required": ["item_ids"]}]
    schema["examples"] = [{"action": "remove", "filter": {"label": "spam", "channel": "facebook"}, "dry_run": True}]


class ReviewBulkCreate(BaseModel):
    """A bulk action over every open item a filter matches, or over the items named: exactly one of the two."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=lambda schema: _one_scope_schema(schema))

    action: BulkAction = Field(description="confirm: the model's labels stand; clear: no label applies (the post stops "
                                           "counting against its author); remove: the model's labels stand, the post is removed")
    filter: ReviewFilterPublic | None = Field(
        None, description=f"act on every open item it matches (at most {MAX_BULK_ITEMS}); {{}} matches the whole queue")
    item_ids: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, min_length=1, max_length=MAX_BULK_ITEMS, description="act on these items (those ticked, or a dry run's)")
    note: str | None = Field(None, max_length=1000, description="kept in each item's audit entry")
    dry_run: bool = Field(False, description="say what would change and change nothing (the confirmation step)")

    @model_validator(mode="after")
    def _one_scope(self) -> ReviewBulkCreate:
        given = [name for name in ("filter", "item_ids") if name in self.model_fields_set]
        if len(given) != 1 or getattr(self, given[0]) is None:  # null is not "given"
            raise ValueError("give either filter or item_ids (exactly one of them, not null)")
        return self


class ReviewBulkItemPublic(BaseModel):
    item_id: str
    record_id: str
    labels: list[str]
    flags: list[str]
    action: str | None
    counts_against_author: bool = Field(description="a removal reason stands, so the post counts against its author")
    decision_id: str | None = Field(description="its audit entry; null on a dry run")


class ReviewBulkSkippedPublic(BaseModel):
    item_id: str
    reason: str


class ReviewBulkPublic(BaseModel):
    action: BulkAction
    dry_run: bool
    count: int = Field(description="how many items were (or, on a dry run, would be) decided")
    items: list[ReviewBulkItemPublic]
    skipped: list[ReviewBulkSkippedPublic] = Field(description="items left alone: held by another moderator, or decided")


def _bulk_public(plan: BulkPlan, result: BulkResult | None) -> ReviewBulkPublic:
    rows: list[tuple[Planned, str | None]]
    if result is None:
        rows = [(p, None) for p in plan.items]
        skipped = plan.skipped
    else:
        rows = [(d.planned, d.decision_id) for d in result.decided]
        skipped = result.skipped
    items = [ReviewBulkItemPublic(item_id=p.item_id, record_id=p.record_id, labels=p.labels, flags=p.flags, action=p.action,
                                  counts_against_author=p.counts_against_author, decision_id=decision_id) for p, decision_id in rows]
    return ReviewBulkPublic(action=plan.action, dry_run=result is None, count=len(items), items=items,
                            skipped=[ReviewBulkSkippedPublic(item_id=s.item_id, reason=s.reason) for s in skipped])


@router.post("/items/bulk/decisions", response_model=ReviewBulkPublic, responses=responses(401, 403, 404, 413, 422, 429, 500, 503))
def bulk_decision(body: ReviewBulkCreate, actor: ReviewerDep, session: SessionDep) -> ReviewBulkPublic:
    """Decide many items at once, one audit entry each, in one transaction; items held by another moderator are
    skipped and listed. More than the cap matching the filter is a 422: narrow the filter or name the items.
    (Not ``/items/bulk``: that path is the review page of an item called "bulk" for any other method.)"""
    flt = QueueFilter(**body.filter.model_dump()) if body.filter else None
    plan = plan_bulk(session, body.action, actor, flt=flt, item_ids=body.item_ids)  # refusals: api.errors.review_refused
    return _bulk_public(plan, None if body.dry_run else apply_bulk(session, plan, actor, note=body.note))


__all__ = ["router", "LABELS"]
