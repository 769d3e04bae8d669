"""``POST /classify`` and ``POST /classify/batch``: HTTP around :mod:`api.decider`.

The answer is serialised once, straight from the decision's fields to JSON bytes (pydantic-core, in Rust):
the response models still document it in the OpenAPI schema, but are not built and then validated again
for every answer. ``tests/api/test_classify_json.py`` holds the bytes to what those models would give."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic_core import to_json

from api.decider import Decider, DeciderDep, Outcome
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
FIELDS = tuple(ClassificationPublic.model_fields)  # the answer's keys, in the schema's order


def public(outcome: Outcome) -> dict[str, Any]:
    """One answer as ``ClassificationPublic`` lays it out (a field the schema lacks is a KeyError, not dropped)."""
    payload = {"record_id": outcome.decided.record_id, "stored": outcome.stored, **outcome.decided.public()}
    return {name: payload[name] for name in FIELDS}


def _json(content: Any) -> Response:
    return Response(to_json(content), media_type="application/json")


async def _classify(items: list[Submission], decider: Decider) -> list[dict[str, Any]]:
    return [public(o) for o in await decider.run(items)]


@router.post("", response_model=ClassificationPublic, responses=ERRORS,
             summary=f"Classify one comment (text of 1 to {MAX_TEXT_CHARS} characters)")
async def classify_one(body: ClassifyRequest, decider: DeciderDep, _caller: ClassifyCallerDep) -> Response:
    return _json((await _classify([body], decider))[0])


@router.post("/batch", response_model=ClassificationsPublic, responses=ERRORS,
             summary=f"Classify up to {MAX_BATCH_ITEMS} comments, answered in the same order")
async def classify_batch(body: ClassifyBatchRequest, decider: DeciderDep, _caller: ClassifyCallerDep) -> Response:
    results = await _classify(list(body.items), decider)
    return _json({"items": results, "count": len(results)})
