"""``POST /classify`` and ``POST /classify/batch``: HTTP around :mod:`service.comments`."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import AuthorSecretDep, BatcherDep, ClassifyCallerDep, HistoryDep, MetricsDep, PolicyDep, StoreDep
from api.errors import responses
from api.schemas import (
    MAX_BATCH_ITEMS,
    ClassificationPublic,
    ClassificationsPublic,
    ClassifyBatchRequest,
    ClassifyRequest,
)
from model.pipeline import MAX_TEXT_CHARS
from service.comments import Submission, decide, rows

router = APIRouter(prefix="/classify", tags=["classify"])

ERRORS = responses(401, 403, 413, 422, 429, 500, 503)


async def _classify(items: list[Submission], request: Request, batcher: BatcherDep, store: StoreDep, policy: PolicyDep,
                    metrics: MetricsDep, secret: AuthorSecretDep, history: HistoryDep) -> list[ClassificationPublic]:
    # The model runs through the micro-batcher (concurrent requests share one model call); the policy runs
    # beside it in a worker thread; the rows go through the group writer (concurrent requests share one
    # commit). None blocks the event loop; a request is answered once its rows are committed, or, when the
    # database cannot take them, kept in the durable outbox ("stored": "pending").
    results = await batcher.classify([item.text for item in items])
    metrics.observe(results, model_expected=request.app.state.model_expected)
    decided = await run_in_threadpool(partial(decide, policy, items, results, secret=secret, history=history))
    stored = await store.save(rows(decided))
    return [ClassificationPublic(record_id=d.record_id, stored=stored, **d.public()) for d in decided]


@router.post("", response_model=ClassificationPublic, responses=ERRORS,
             summary=f"Classify one comment (text of 1 to {MAX_TEXT_CHARS} characters)")
async def classify_one(body: ClassifyRequest, request: Request, batcher: BatcherDep, store: StoreDep, policy: PolicyDep,
                       metrics: MetricsDep, secret: AuthorSecretDep, history: HistoryDep,
                       _caller: ClassifyCallerDep) -> ClassificationPublic:
    return (await _classify([body], request, batcher, store, policy, metrics, secret, history))[0]


@router.post("/batch", response_model=ClassificationsPublic, responses=ERRORS,
             summary=f"Classify up to {MAX_BATCH_ITEMS} comments, answered in the same order")
async def classify_batch(body: ClassifyBatchRequest, request: Request, batcher: BatcherDep, store: StoreDep,
                         policy: PolicyDep, metrics: MetricsDep, secret: AuthorSecretDep, history: HistoryDep,
                         _caller: ClassifyCallerDep) -> ClassificationsPublic:
    results = await _classify(list(body.items), request, batcher, store, policy, metrics, secret, history)
    return ClassificationsPublic(items=results, count=len(results))
