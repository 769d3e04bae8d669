"""``POST /classify`` and ``POST /classify/batch``: HTTP around :mod:`api.decider`."""

from __future__ import annotations

from fastapi import APIRouter

from api.decider import Decider, DeciderDep
from api.deps import ClassifyCallerDep
from api.errors import responses
from api.schemas import (
    MAX_BATCH_ITEMS,
    ClassificationPublic,
    ClassificationsPublic,
    ClassifyBatchRequest,
    ClassifyRequest,
)
from model.pipeline import MAX_TEXT_CHARS
from service.comments import Submission

router = APIRouter(prefix="/classify", tags=["classify"])

ERRORS = responses(401, 403, 413, 422, 429, 500, 503)


async def _classify(items: list[Submission], decider: Decider) -> list[ClassificationPublic]:
    return [ClassificationPublic(record_id=o.decided.record_id, stored=o.stored, **o.decided.public())
            for o in await decider.run(items)]


@router.post("", response_model=ClassificationPublic, responses=ERRORS,
             summary=f"Classify one comment (text of 1 to {MAX_TEXT_CHARS} characters)")
async def classify_one(body: ClassifyRequest, decider: DeciderDep, _caller: ClassifyCallerDep) -> ClassificationPublic:
    return (await _classify([body], decider))[0]


@router.post("/batch", response_model=ClassificationsPublic, responses=ERRORS,
             summary=f"Classify up to {MAX_BATCH_ITEMS} comments, answered in the same order")
async def classify_batch(body: ClassifyBatchRequest, decider: DeciderDep, _caller: ClassifyCallerDep) -> ClassificationsPublic:
    results = await _classify(list(body.items), decider)
    return ClassificationsPublic(items=results, count=len(results))
