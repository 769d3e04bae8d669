"""``POST /classify`` and ``POST /classify/batch``: HTTP around :mod:`service.comments`."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import AuthorSecretDep, BatcherDep, ClassifyCallerDep, HistoryDep, MetricsDep, PolicyDep, WriterDep
from api.schemas import (
    MAX_BATCH_ITEMS,
    ClassificationPublic,
    ClassificationsPublic,
    ClassifyBatchRequest,
    ClassifyRequest,
    ErrorPublic,
)
from model.pipeline import MAX_TEXT_CHARS
from service.comments import Submission, decide, store

router = APIRouter(prefix="/classify", tags=["classify"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic, "description": "missing or invalid API key"},
    403: {"model": ErrorPublic, "description": "the API key lacks the classify scope"},
    413: {"model": ErrorPublic, "description": "the body is too large"},
    422: {"model": ErrorPublic, "description": "invalid input: the details name each field and its limit"},
    429: {"model": ErrorPublic, "description": "over the rate limit for this API key or client address",
          "headers": {"Retry-After": {"description": "seconds until the limit allows a request again",
                                      "schema": {"type": "integer"}}}},
}


async def _classify(items: list[Submission], request: Request, batcher: BatcherDep, writer: WriterDep, policy: PolicyDep,
                    metrics: MetricsDep, secret: AuthorSecretDep, history: HistoryDep) -> list[ClassificationPublic]:
    # The model runs through the micro-batcher (concurrent requests share one model call); the policy runs
    # beside it in a worker thread; the rows go through the group writer (concurrent requests share one
    # commit). None blocks the event loop; a request is answered once its rows are committed.
    results = await batcher.classify([item.text for item in items])
    metrics.observe(results, model_expected=request.app.state.model_expected)
    decided = await run_in_threadpool(partial(decide, policy, items, results, secret=secret, history=history))
    record_ids: list[str] = await writer.run(partial(store, decided=decided))
    return [ClassificationPublic(record_id=record_id, **d.public()) for d, record_id in zip(decided, record_ids, strict=True)]


@router.post("", response_model=ClassificationPublic, responses=ERRORS,
             summary=f"Classify one comment (text of 1 to {MAX_TEXT_CHARS} characters)")
async def classify_one(body: ClassifyRequest, request: Request, batcher: BatcherDep, writer: WriterDep, policy: PolicyDep,
                       metrics: MetricsDep, secret: AuthorSecretDep, history: HistoryDep,
                       _caller: ClassifyCallerDep) -> ClassificationPublic:
    return (await _classify([body], request, batcher, writer, policy, metrics, secret, history))[0]


@router.post("/batch", response_model=ClassificationsPublic, responses=ERRORS,
             summary=f"Classify up to {MAX_BATCH_ITEMS} comments, answered in the same order")
async def classify_batch(body: ClassifyBatchRequest, request: Request, batcher: BatcherDep, writer: WriterDep,
                         policy: PolicyDep, metrics: MetricsDep, secret: AuthorSecretDep, history: HistoryDep,
                         _caller: ClassifyCallerDep) -> ClassificationsPublic:
    results = await _classify(list(body.items), request, batcher, writer, policy, metrics, secret, history)
    return ClassificationsPublic(items=results, count=len(results))
