"""A drop-in for Perspective's ``comments:analyze`` and its discovery document, HTTP around :mod:`api.decider`.

Perspective's clients (Google's discovery-based libraries, the npm ``perspective-api-client``, plain HTTP)
keep working with only the address changed. Everything about this door speaks Perspective: its request and
answer shapes, the key in ``?key=``, its bodies with unquoted keys (as its own curl example sends them), and
Google's JSON error shape ``{"error": {"code", "message", "status", "details"}}`` for every error of these
routes. The rest of the API keeps sift's error shape (:mod:`api.errors`): :class:`PerspectiveRoute` reshapes
the answers of sift's own handlers, for these routes only. The attribute mapping is :mod:`service.perspective`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from functools import cache
from importlib.resources import files
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.decider import DeciderDep
from api.deps import PerspectiveCallerDep, PipelineDep
from model.pipeline import MAX_TEXT_CHARS
from model.result import Classification
from service.comments import HAS_WORDS, Submission
from service.perspective import (
    ATTRIBUTES,
    DESCRIPTIONS,
    SCORE_TYPES,
    PerspectiveError,
    attribute_score,
    check_attributes,
    check_text,
    languages,
    spans,
)

PREFIX = "/v1alpha1"
# Google's canonical error codes (google.rpc.Code) for the statuses sift answers.
GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 413: "INVALID_ARGUMENT", 422: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                 503: "UNAVAILABLE"}
ERROR_DETAIL_TYPE = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"
# A member name outside a string, as Perspective's own curl example sends them ({comment: {text: "..."}}).
_BARE_KEY = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|([A-Za-z_$][\w$]*)(\s*:)')


def relaxed_json(body: bytes) -> Any:
    """JSON, or JSON whose member names are not quoted (Google's API front end takes both)."""
    try:
        return json.loads(body)
    except json.JSONDecodeError as strict:
        text = body.decode("utf-8")  # not UTF-8: FastAPI's own 400, which says so
        quoted = _BARE_KEY.sub(lambda m: f'"{m.group(1)}"{m.group(2)}' if m.group(1) else m.group(0), text)
        try:
            return json.loads(quoted)
        except json.JSONDecodeError:
            raise strict from None  # the position in what was sent, not in the rewritten text


class _RelaxedJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = relaxed_json(await self.body())
        return self._json


def google_error(code: int, message: str, *, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    status = 400 if code == 422 else code  # Google never answers 422: a bad request is INVALID_ARGUMENT
    error: dict[str, Any] = {"code": status, "message": message, "status": GOOGLE_STATUS.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


def _invalid_payload(exc: RequestValidationError) -> JSONResponse:
    """Perspective's words for a body that does not fit AnalyzeCommentRequest, each field named."""
    parts = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == "json_invalid":
            parts.append(f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')} at character "
                         f"{loc[-1] if len(loc) > 1 else '?'})")
        elif err["type"] == "extra_forbidden":
            parts.append(f"Unknown name \"{loc[-1]}\" at '{_field(loc[:-1])}': Cannot find field.")
        elif err["type"] == "missing" and _field(loc) == "body":
            parts.append("the body is empty: send an AnalyzeCommentRequest, e.g. "
                         '{"comment": {"text": "..."}, "requestedAttributes": {"TOXICITY": {}}}')
        else:
            parts.append(f"Invalid value at '{_field(loc)}': {err['msg'].removeprefix('Value error, ')}")
    return google_error(400, "Invalid JSON payload received. " + " ".join(parts),
                        details=[{"@type": ERROR_DETAIL_TYPE, "errorType": "INVALID_REQUEST"}])


async def _reshaped(request: Request, exc: Exception) -> Response:
    """sift's own answer to ``exc`` (its handler in :mod:`api.errors`: the same statuses, logs and headers), in
    Google's error shape."""
    if isinstance(exc, PerspectiveError):
        return google_error(400, exc.message, details=[{"@type": ERROR_DETAIL_TYPE, "errorType": exc.error_type,
                                                        **exc.extra}])
    if isinstance(exc, RequestValidationError):
        return _invalid_payload(exc)
    handler = next((request.app.exception_handlers[kind] for kind in type(exc).__mro__
                    if kind in request.app.exception_handlers), None)
    if handler is None:
        raise exc  # a fault: Starlette's 500, logged with its traceback
    answer: Response = await handler(request, exc)
    if not isinstance(answer, JSONResponse):
        return answer
    body = json.loads(bytes(answer.body))
    message = str(body.get("error", "error"))
    notes = [f"{d['field']}: {d['message']}" for d in body.get("details", []) if isinstance(d, dict)]
    headers = {k: v for k, v in answer.headers.items() if k.lower() in {"retry-after", "www-authenticate"}}
    return google_error(answer.status_code, "; ".join([message, *notes]), headers=headers)


class PerspectiveRoute(APIRoute):
    """Reads bodies with unquoted member names too, and answers every error in Google's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            request = _RelaxedJSONRequest(request.scope, request.receive)
            try:
                return await original(request)
            except Exception as exc:  # noqa: BLE001 - reshaped from sift's own handler, or re-raised when there is none
                return await _reshaped(request, exc)

        return handler


router = APIRouter(prefix=PREFIX, tags=["perspective"], route_class=PerspectiveRoute)
discovery_router = APIRouter(include_in_schema=False, route_class=PerspectiveRoute)

# --- the request and the answer (Perspective's AnalyzeCommentRequest and AnalyzeCommentResponse) ---------------


class _Strict(BaseModel):
    # Strict: a 0 is not a boolean false, "1" is not a number. Perspective's own refusals (an empty or too long
    # text, an unknown attribute or score type) are checked by service.perspective, so that they answer in its
    # words; the schema declares the same limits (json_schema_extra), for the callers and the contract test.
    model_config = ConfigDict(extra="forbid", strict=True)


class TextEntry(_Strict):
    model_config = ConfigDict(json_schema_extra={"required": ["text"]})

    text: str = Field("", description=f"the comment: 1 to {MAX_TEXT_CHARS} characters, not only white space",
                      json_schema_extra={"minLength": 1, "maxLength": MAX_TEXT_CHARS, "pattern": HAS_WORDS})
    type: str | None = Field(None, description="PLAIN_TEXT (the default); HTML is refused, as Perspective does",
                             json_schema_extra={"enum": ["TEXT_TYPE_UNSPECIFIED", "PLAIN_TEXT"]})


class _ContextText(_Strict):
    """A text of the context: accepted and ignored, so nothing is checked beyond its shape."""

    text: str | None = None
    type: str | None = None


class ArticleAndParentComment(_Strict):
    article: _ContextText | None = None
    parentComment: _ContextText | None = None  # noqa: N815 - Perspective's field names


class Context(_Strict):
    entries: list[_ContextText] | None = None
    articleAndParentComment: ArticleAndParentComment | None = None  # noqa: N815


class AttributeParameters(_Strict):
    scoreType: str | None = Field(None, description="PROBABILITY (or SCORE_TYPE_UNSPECIFIED)",  # noqa: N815
                                  json_schema_extra={"enum": list(SCORE_TYPES)})
    scoreThreshold: float | None = Field(None, description="leave the attribute out of the answer when its summary "  # noqa: N815
                                                            "score is below this")


class AnalyzeCommentRequest(_Strict):
    """Perspective's AnalyzeCommentRequest. ``context``, ``sessionId`` and ``communityId`` are accepted and
    ignored; ``doNotStore: true`` keeps nothing of the comment."""

    model_config = ConfigDict(json_schema_extra={"required": ["comment", "requestedAttributes"], "examples": [
        {"comment": {"text": "what kind of idiot name is foo?"}, "languages": ["en"],
         "requestedAttributes": {"TOXICITY": {}, "INSULT": {}}, "doNotStore": True}]})

    comment: TextEntry = Field(default_factory=TextEntry)
    requestedAttributes: dict[str, AttributeParameters] = Field(  # noqa: N815
        default_factory=dict, description=f"the attributes to score, each with {{}} or its parameters: {', '.join(ATTRIBUTES)}",
        json_schema_extra={"minProperties": 1, "propertyNames": {"enum": list(ATTRIBUTES)}})
    languages: list[str] | None = Field(None, description="ISO 639-1 or BCP-47 codes, each one sift reads (else a 400); "
                                                          "detected when left out")
    doNotStore: bool | None = Field(None, description="true: no text, no hash of it, no cache entry is kept")  # noqa: N815
    spanAnnotations: bool | None = Field(None, description="true: span scores from sift's evidence")  # noqa: N815
    clientToken: str | None = Field(None, description="echoed in the answer")  # noqa: N815
    context: Context | None = None
    sessionId: str | None = None  # noqa: N815
    communityId: str | None = None  # noqa: N815
    dropUnsupportedAttributes: bool | None = Field(  # noqa: N815
        None, description="true: an unsupported language leaves the attributes out instead of an error")


class Score(BaseModel):
    value: float
    type: Literal["PROBABILITY"] = "PROBABILITY"


class SpanScore(BaseModel):
    begin: int = Field(description="start of the span, in UTF-16 code units")
    end: int = Field(description="end of the span (exclusive), in UTF-16 code units")
    score: Score


class AttributeScores(BaseModel):
    summaryScore: Score  # noqa: N815
    spanScores: list[SpanScore] | None = None  # noqa: N815


class AnalyzeCommentResponse(BaseModel):
    attributeScores: dict[str, AttributeScores]  # noqa: N815
    languages: list[str]
    detectedLanguages: list[str] | None = None  # noqa: N815
    clientToken: str | None = None  # noqa: N815


class GoogleErrorBody(BaseModel):
    code: int
    message: str
    status: str = Field(description="Google's canonical code: INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, "
                                    "RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE")
    details: list[dict[str, Any]] | None = Field(None, description="for a refused request, its errorType "
                                                                   "(COMMENT_EMPTY, COMMENT_TOO_LONG, ...)")


class GoogleError(BaseModel):
    error: GoogleErrorBody


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": GoogleError, "description": "INVALID_ARGUMENT: empty or too long text, unknown attribute or score "
                                               "type, unsupported language, or a body that is not an AnalyzeCommentRequest"},
    401: {"model": GoogleError, "description": "UNAUTHENTICATED: missing or invalid API key"},
    403: {"model": GoogleError, "description": "PERMISSION_DENIED: the key lacks the classify scope"},
    429: {"model": GoogleError, "description": "RESOURCE_EXHAUSTED: too many requests, wait as Retry-After says",
          "headers": _RETRY_AFTER},
    # Said so that FastAPI does not declare its 422, which this route never answers (a bad body is a 400 here).
    "4XX": {"model": GoogleError, "description": "any other client error, in Google's shape"},
    500: {"model": GoogleError, "description": "INTERNAL: a fault in sift"},
    503: {"model": GoogleError, "description": "UNAVAILABLE: the database and the outbox cannot keep the comment, or "
                                               "sift is shutting down", "headers": _RETRY_AFTER},
}


def answer(body: AnalyzeCommentRequest, result: Classification, text: str, asked: list[str],
           langs: tuple[list[str], list[str] | None]) -> AnalyzeCommentResponse:
    scores: dict[str, AttributeScores] = {}
    for name in asked:
        attribute = next(a for a in ATTRIBUTES if a == name)
        summary = attribute_score(attribute, result)
        threshold = body.requestedAttributes[name].scoreThreshold
        if threshold is not None and summary < threshold:
            continue  # Perspective leaves out a score below the caller's threshold
        span_scores = ([SpanScore(begin=b, end=e, score=Score(value=s)) for b, e, s in spans(attribute, result, text)]
                       if body.spanAnnotations else None)
        scores[name] = AttributeScores(summaryScore=Score(value=summary), spanScores=span_scores)
    return AnalyzeCommentResponse(attributeScores=scores, languages=langs[0], detectedLanguages=langs[1],
                                  clientToken=body.clientToken)


@router.post("/comments:analyze", response_model=AnalyzeCommentResponse, response_model_exclude_none=True,
             responses=ERRORS, summary="Perspective's comments:analyze: TOXICITY, SEVERE_TOXICITY, IDENTITY_ATTACK, "
                                       "INSULT, PROFANITY and THREAT from sift's classification")
async def analyze(body: AnalyzeCommentRequest, decider: DeciderDep, pipeline: PipelineDep,
                  _caller: PerspectiveCallerDep) -> AnalyzeCommentResponse:
    text = check_text(body.comment.text, body.comment.type, MAX_TEXT_CHARS)
    asked = check_attributes({name: (p.scoreType, p.scoreThreshold) for name, p in body.requestedAttributes.items()})
    detected = await run_in_threadpool(pipeline.detect_language, text) if not body.languages else None
    try:
        langs = languages(body.languages, detected, pipeline.supported_languages, asked)
    except PerspectiveError:
        if not body.dropUnsupportedAttributes:
            raise
        seen = [detected.code] if detected is not None and detected.reliable else None
        return AnalyzeCommentResponse(attributeScores={}, languages=list(body.languages or seen or []),
                                      detectedLanguages=seen, clientToken=body.clientToken)
    outcome = (await decider.run([Submission(text=text)], keep=not body.doNotStore))[0]
    return answer(body, outcome.decided.result, text, [str(a) for a in asked], langs)


@cache
def _discovery_template() -> str:
    return files("api").joinpath("templates/commentanalyzer.v1alpha1.json").read_text(encoding="utf-8")


def discovery_document(root_url: str) -> dict[str, Any]:
    """Google's discovery document for commentanalyzer v1alpha1, describing this server at ``root_url``."""
    doc: dict[str, Any] = json.loads(_discovery_template())
    doc["rootUrl"] = doc["baseUrl"] = root_url
    doc["schemas"]["AnalyzeCommentRequest"]["properties"]["requestedAttributes"]["description"] = (
        "The attributes to score, each mapped to its AttributeParameters ({} for the defaults):\n"
        + "\n".join(f'"{name}" - {DESCRIPTIONS[name]}.' for name in ATTRIBUTES))
    return doc


@discovery_router.get("/$discovery/rest")
async def discovery(request: Request, version: str = "v1alpha1") -> JSONResponse:
    """Open like Google's: it describes the API, never a comment."""
    if version != "v1alpha1":
        return google_error(404, f"No discovery document for version {version!r}: sift serves v1alpha1 only")
    return JSONResponse(discovery_document(str(request.base_url)))
