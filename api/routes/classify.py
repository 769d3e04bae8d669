"""``POST /classify`` and ``POST /classify/batch``."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from service.db.offences import DbHistory
from service.db.repository import author_hash, record_classifications
from api.deps import ClassifyCallerDep, PolicyDep
from api.schemas import (
    MAX_BATCH_ITEMS,
    MAX_TEXT_CHARS,
    ClassificationPublic,
    ClassificationsPublic,
    ClassifyBatchRequest,
    ClassifyRequest,
    ErrorPublic,
)
from model.policy.engine import PolicyDecision, PolicyEngine
from model.result import Classification

router = APIRouter(prefix="/classify", tags=["classify"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic, "description": "missing or invalid API key"},
    403: {"model": ErrorPublic, "description": "the API key lacks the classify scope"},
    413: {"model": ErrorPublic, "description": "the body is too large"},
    422: {"model": ErrorPublic, "description": "invalid input: the details name each field and its limit"},
}


def _decide_and_record(policy: PolicyEngine, items: list[ClassifyRequest], results: list[Classification], secret: bytes,
                       session: Session) -> list[ClassificationPublic]:
    history = DbHistory(session)
    received = datetime.now(UTC)
    decisions: list[PolicyDecision] = []
    meta: list[dict[str, Any]] = []
    for item, result in zip(items, results, strict=True):
        author = author_hash(secret, item.channel, item.author_id)
        decision = policy.decide(result, item.text, channel=item.channel, posted_at=item.posted_at, author_hash=author,
                                 history=history, now=received)
        decisions.append(decision)
        meta.append({"id": item.id, "channel": item.channel, "posted_at": item.posted_at or received, "author_hash": author,
                     "policy": decision})
    record_ids = record_classifications(session, [(item.text, result, m) for item, result, m in zip(items, results, meta, strict=True)],
                                        commit=False)
    return [ClassificationPublic(id=item.id, record_id=record_id, **asdict(result), **decision.public_fields())
            for item, result, decision, record_id in zip(items, results, decisions, record_ids, strict=True)]


async def _classify(request: Request, policy: PolicyEngine, items: list[ClassifyRequest]) -> list[ClassificationPublic]:
    # The model runs through the micro-batcher (concurrent requests share one model call); the policy and
    # the database write run through the group writer (concurrent requests share one commit), both in
    # worker threads. Neither blocks the event loop; a request is answered once its rows are committed.
    results = await request.app.state.batcher.classify([item.text for item in items])
    request.app.state.metrics.observe(results, model_expected=request.app.state.model_expected)
    work = partial(_decide_and_record, policy, items, results, request.app.state.author_secret)
    stored: list[ClassificationPublic] = await request.app.state.writer.run(work)
    return stored


@router.post("", response_model=ClassificationPublic, responses=ERRORS,
             summary=f"Classify one comment (text of 1 to {MAX_TEXT_CHARS} characters)")
async def classify_one(body: ClassifyRequest, request: Request, policy: PolicyDep,
                       _caller: ClassifyCallerDep) -> ClassificationPublic:
    return (await _classify(request, policy, [body]))[0]


@router.post("/batch", response_model=ClassificationsPublic, responses=ERRORS,
             summary=f"Classify up to {MAX_BATCH_ITEMS} comments, answered in the same order")
async def classify_batch(body: ClassifyBatchRequest, request: Request, policy: PolicyDep,
                         _caller: ClassifyCallerDep) -> ClassificationsPublic:
    results = await _classify(request, policy, body.items)
    return ClassificationsPublic(items=results, count=len(results))
