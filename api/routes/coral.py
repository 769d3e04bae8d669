"""``POST /coral/moderate``: the callback URL of a Coral external moderation phase (see :mod:`service.coral`).

The signature is the caller's credential (Coral sends no API key): the raw body must carry an
``X-Coral-Signature`` made with ``SIFT_CORAL_SIGNING_SECRET``, checked before anything is parsed. The comment
then takes the one decide-and-store path (:class:`api.decider.Decider`), and Coral gets its answer by the
phase's timeout less the margin, whatever the model is doing:

1. the full decision, when it is ready in time;
2. else the rules' answer (they ran beside it and take about a millisecond), marked ``rules in time``;
3. else 204, nothing to say in time.

In the last two cases the full decision goes on after the answer and is stored as any other: the comment is
never lost, and sift's review queue gets it if a person must look.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.decider import DeciderDep, Outcome
from api.deps import PipelineDep, PolicyDep, SettingsDep, SignedCallerScope
from api.errors import ERRORS
from api.schemas import ErrorPublic
from model.pipeline import Pipeline
from model.policy.engine import PolicyEngine
from service.comments import Decided, Submission, decide
from service.coral import SIGNATURE_HEADER, CoralAnswer, CoralRequest, signature_ok, to_answer, to_submission

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/coral", tags=["coral"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    204: {"description": "sift has nothing for Coral to do (or nothing was ready in time); Coral goes on"},
    401: {"model": ErrorPublic, "description": f"no {SIGNATURE_HEADER} header, or none of its signatures is the body's "
                                               "HMAC-SHA256 under SIFT_CORAL_SIGNING_SECRET"},
    413: ERRORS[413],
    422: {"model": ErrorPublic, "description": "the body is not an External Moderation Request: the details name each "
                                               "field and what is wrong"},
    429: ERRORS[429],
    500: ERRORS[500],
    404: {"model": ErrorPublic, "description": "Coral moderation is off: SIFT_CORAL_SIGNING_SECRET is not set (the answer "
                                               "says so)"},
    503: {"model": ErrorPublic, "description": "the database and the outbox cannot keep the comment"},
}

_NOT_IN_TIME = "the model did not answer within Coral's timeout"


def _rules_decision(pipeline: Pipeline, policy: PolicyEngine, item: Submission) -> Decided:
    """The rules' answer alone, for Coral's deadline: not stored (the full decision is)."""
    rules = Pipeline(pipeline.rules, None, pipeline.policy, missing_model_reason=_NOT_IN_TIME,
                     languages=pipeline.languages, rules_budget=pipeline.rules_budget)
    return decide(policy, [item], rules.classify_many([item.text]))[0]


class _Kept:
    """Holds the full decision until it is stored, past the answer (a task nobody references can vanish), and
    logs a failure nobody is left to answer."""

    def __init__(self, request: Request, task: asyncio.Task[list[Outcome]]):
        pending: set[asyncio.Task[list[Outcome]]] | None = getattr(request.app.state, "coral_pending", None)
        if pending is None:
            pending = request.app.state.coral_pending = set()
        self.pending, self.answered = pending, False  # answered: Coral got its answer without this decision
        pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, finished: asyncio.Task[list[Outcome]]) -> None:
        self.pending.discard(finished)
        failure = None if finished.cancelled() else finished.exception()
        if failure is not None and self.answered:
            logger.error("a Coral comment's decision failed after Coral was answered: %s", type(failure).__name__)


def _invalid(exc: ValidationError, *, at: tuple[str, ...] | None = None) -> RequestValidationError:
    """Pydantic's errors located in the body (``at``: all at that field), for the app's 422 (api.errors)."""
    return RequestValidationError([{**err, "loc": ("body", *(at or err["loc"]))} for err in exc.errors()])


@router.post("/moderate", response_model=CoralAnswer, responses=RESPONSES, dependencies=[SignedCallerScope],
             summary="A Coral external moderation phase's callback: its signed request in, its answer out")
async def moderate(request: Request, decider: DeciderDep, pipeline: PipelineDep, policy: PolicyDep,
                   settings: SettingsDep,
                   signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None) -> Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.coral_deadline
    secret = settings.coral_signing_secret.get_secret_value()
    if not secret:
        raise HTTPException(status.HTTP_404_NOT_FOUND,  # off, not failing: as the platforms' webhooks say it
                            "Coral moderation is not set up on this sift: set SIFT_CORAL_SIGNING_SECRET to the phase's "
                            "signing secret (Coral admin > Configure > Moderation Phases) and restart")
    raw = await request.body()
    if not signature:
        logger.warning("refused a Coral moderation request: no %s header", SIGNATURE_HEADER)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"no {SIGNATURE_HEADER} header: Coral signs every moderation "
                                                          "request; is this callback URL a Coral moderation phase?")
    if not signature_ok(secret.encode(), raw, signature):
        logger.warning("refused a Coral moderation request: its signature does not match SIFT_CORAL_SIGNING_SECRET")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            f"{SIGNATURE_HEADER} does not match the body: set SIFT_CORAL_SIGNING_SECRET to this phase's "
                            "signing secret (after a rotation, the new one)")
    try:
        coral = CoralRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise _invalid(exc) from None
    try:
        item = to_submission(coral)
    except ValidationError as exc:  # the words are past sift's limit
        raise _invalid(exc, at=("comment", "body")) from None
    if item is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    full = asyncio.create_task(decider.run([item]))
    kept = _Kept(request, full)
    quick = asyncio.ensure_future(run_in_threadpool(_rules_decision, pipeline, policy, item))
    quick.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved even when not needed
    try:
        await asyncio.wait({full}, timeout=max(0.0, deadline - loop.time()))
    except asyncio.CancelledError:  # Coral hung up: the decision carries on without anyone to answer
        kept.answered = True
        raise
    if full.done():
        outcome = full.result()[0]  # a failure to keep it is the app's 503, as for /classify
        answer = to_answer(outcome.decided, stored=outcome.stored)
    else:
        kept.answered = True  # whatever happens to the decision now, the request is answered without it
        await asyncio.wait({quick}, timeout=max(0.0, deadline - loop.time()))
        ready = quick.done() and not quick.cancelled() and quick.exception() is None
        answer = to_answer(quick.result(), stored=None, answered_from="rules in time") if ready else None
        logger.warning("Coral's deadline (%d ms less %d ms) came before the model's answer: answered %s; the full "
                       "decision is still being made and will be stored", settings.coral_timeout_ms,
                       settings.coral_margin_ms, "from the rules" if ready else "204, nothing in time")
    if answer is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return JSONResponse(answer.for_coral())
