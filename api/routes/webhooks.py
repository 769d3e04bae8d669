"""The platforms' webhooks: Meta (Facebook Page feed, Instagram comments), X account activity, YouTube comments.

Meta and X sign their deliveries with the app's secret, so these doors take no API key: the signature is the
check (``X-Hub-Signature-256``, ``x-twitter-webhooks-signature``), and a body that fails it is refused (401) and
not kept: it could come from anyone, and keeping it would let anyone fill the database. A platform retries a
refused delivery, so a genuine one is not lost while a wrong secret is fixed. YouTube does not push, so
``/webhooks/youtube`` takes what a poller fetched, with an API key of the classify scope.

Each payload goes through its adapter (:mod:`service.platforms`) and :func:`api.inbound.ingest`, i.e. the same
decide-and-store path as ``/classify``. A payload (or a part of one) sift cannot read is answered 422 saying
what was expected, and kept byte for byte for an admin (``sift webhooks unknown``); the parts it could read are
decided all the same.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, SecretStr

from api.decider import DeciderDep
from api.deps import ClassifyCallerDep, SettingsDep, SignedCallerScope
from api.errors import ERRORS
from api.inbound import Ingested, decode, ingest
from api.schemas import ErrorDetail, ErrorPublic
from service.db.inbound import record_id
from service.platforms import Parsed, Platform, meta, x, youtube

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class WebhookItemPublic(BaseModel):
    id: str  # the platform's comment id
    status: str  # "decided" or "already seen"
    record_id: str
    stored: str | None = None  # "committed" or "pending" (in the outbox) for a comment decided now
    labels: list[str] = []
    priority: str | None = None


class WebhookReceiptPublic(BaseModel):
    platform: Platform
    decided: int
    already_seen: int
    ignored: list[str]  # what the payload held that sift does not decide, and why
    items: list[WebhookItemPublic]


class WebhookRefusedPublic(ErrorPublic):
    kept: str  # the id of the kept payload: `sift webhooks unknown <id>`
    receipt: WebhookReceiptPublic  # what was decided from the parts sift could read


_OFF = {"model": ErrorPublic, "description": "this platform's webhook is off: the answer names the setting to set"}
_SIGNED = {"model": ErrorPublic, "description": "the signature header is missing or does not match the body "
                                                 "(the body is not kept)"}
_UNREAD = {"model": WebhookRefusedPublic, "description": "a payload, or part of one, sift cannot read: the details say "
                                                         "what was expected; the body is kept for an admin"}
SIGNED_ERRORS: dict[int | str, dict[str, Any]] = {401: _SIGNED, 404: _OFF, 413: ERRORS[413], 422: _UNREAD,
                                                  429: ERRORS[429], 500: ERRORS[500], 503: ERRORS[503]}


def _secret(value: SecretStr, setting: str) -> str:
    secret = value.get_secret_value()
    if not secret:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"this webhook is off: set {setting} (see README, Platform webhooks)")
    return secret


def _signed(secret: str, body: bytes, header: str | None, name: str, check: Callable[[str, bytes, str | None], bool]) -> None:
    if header is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"the {name} header is missing: only signed deliveries are read")
    if not check(secret, body, header):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"the {name} header does not match the body: check that the "
                                                          "app's secret is the one sift is given")


def receipt(result: Ingested) -> WebhookReceiptPublic:
    items = [WebhookItemPublic(id=item.submission.id or "", status="decided", record_id=outcome.decided.record_id,
                               stored=outcome.stored, labels=list(outcome.decided.result.labels),
                               priority=outcome.decided.decision.priority) for item, outcome in result.decided]
    items += [WebhookItemPublic(id=item.submission.id or "", status="already seen", record_id=record_id(result.platform, item.key))
              for item in result.seen]
    return WebhookReceiptPublic(platform=result.platform, decided=len(result.decided), already_seen=len(result.seen),
                                ignored=result.ignored, items=items)


async def _receive(platform: Platform, parse: Callable[[Any], Parsed], request: Request, body: bytes,
                   decider: DeciderDep) -> Any:
    result = await ingest(platform, decode(body, parse), decider, request.app.state.session_factory, body=body,
                          content_type=request.headers.get("content-type"))
    if result.unknown:
        assert result.kept is not None
        refused = WebhookRefusedPublic(
            error=f"sift could not read all of this {platform} payload; it is kept as {result.kept} for an admin",
            details=[ErrorDetail(field=p.where, message=p.message) for p in result.unknown], kept=result.kept,
            receipt=receipt(result))
        return JSONResponse(refused.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    return receipt(result)


@router.get("/meta", responses={200: {"description": "hub.challenge, echoed", "content": {"text/plain": {"schema": {"type": "string"}}}},
                                 403: _SIGNED, 404: _OFF, 422: ERRORS[422]},
            summary="Meta's verification request: answers hub.challenge when hub.verify_token matches")
async def meta_verify(settings: SettingsDep, mode: Annotated[str, Query(alias="hub.mode", max_length=50)],
                      challenge: Annotated[str, Query(alias="hub.challenge", min_length=1, max_length=200)],
                      verify_token: Annotated[str, Query(alias="hub.verify_token", max_length=500)]) -> PlainTextResponse:
    token = _secret(settings.meta_verify_token, "SIFT_META_VERIFY_TOKEN")
    if mode != "subscribe" or not hmac.compare_digest(verify_token.encode(), token.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "hub.verify_token is not SIFT_META_VERIFY_TOKEN, or hub.mode is "
                                                       "not subscribe")
    return PlainTextResponse(challenge)


@router.post("/meta", response_model=WebhookReceiptPublic, responses=SIGNED_ERRORS, dependencies=[SignedCallerScope],
             summary="Meta's event notifications: Page feed comments and Instagram comments, signed")
async def meta_events(request: Request, settings: SettingsDep, decider: DeciderDep) -> Any:
    secret = _secret(settings.meta_app_secret, "SIFT_META_APP_SECRET")
    body = await request.body()
    _signed(secret, body, request.headers.get(meta.SIGNATURE_HEADER), meta.SIGNATURE_HEADER, meta.signature_ok)
    return await _receive("meta", meta.parse, request, body, decider)


@router.get("/x", responses={404: _OFF, 422: ERRORS[422]},
            summary="X's challenge-response check: the crc_token signed with the consumer secret")
async def x_crc(settings: SettingsDep,
                crc_token: Annotated[str, Query(min_length=1, max_length=500)]) -> dict[str, str]:
    return x.crc_response(_secret(settings.x_consumer_secret, "SIFT_X_CONSUMER_SECRET"), crc_token)


@router.post("/x", response_model=WebhookReceiptPublic, responses=SIGNED_ERRORS, dependencies=[SignedCallerScope],
             summary="X's account activity events: mentions and replies (tweet_create_events), signed")
async def x_events(request: Request, settings: SettingsDep, decider: DeciderDep) -> Any:
    secret = _secret(settings.x_consumer_secret, "SIFT_X_CONSUMER_SECRET")
    body = await request.body()
    _signed(secret, body, request.headers.get(x.SIGNATURE_HEADER), x.SIGNATURE_HEADER, x.signature_ok)
    return await _receive("x", x.parse, request, body, decider)


@router.post("/youtube", response_model=WebhookReceiptPublic,
             responses={**{code: ERRORS[code] for code in (401, 403, 413, 429, 500, 503)}, 422: _UNREAD},
             summary="YouTube comments as commentThreads.list answers them (an API key with the classify scope)")
async def youtube_comments(request: Request, decider: DeciderDep, _caller: ClassifyCallerDep) -> Any:
    return await _receive("youtube", youtube.parse, request, await request.body(), decider)
