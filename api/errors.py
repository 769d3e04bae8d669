"""Error responses: every 4xx names the field and says what to fix."""

from __future__ import annotations

import html
import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.schemas import ErrorPublic
from api.storage import NotStored
from model.pipeline import InvalidTextError
from service.db.review import ReviewConflict, ReviewError, ReviewInvalid, ReviewNotFound
from service.db.session import fault_reason, is_unavailable

logger = logging.getLogger(__name__)

_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}

# Every error status the API answers, described once; each route documents the ones it can give with responses(...).
ERRORS: dict[int, dict[str, Any]] = {
    401: {"model": ErrorPublic, "description": "missing or invalid API key (the review API also takes a moderator's session)"},
    403: {"model": ErrorPublic, "description": "the API key lacks the scope this route needs, or the CSRF token is missing or wrong"},
    404: {"model": ErrorPublic, "description": "no such review item or record"},
    409: {"model": ErrorPublic, "description": "someone else holds the item, or it is already decided"},
    413: {"model": ErrorPublic, "description": "the body is too large"},
    422: {"model": ErrorPublic, "description": "invalid input: the details name each field (or parameter) and what to fix"},
    429: {"model": ErrorPublic, "description": "too many requests: wait as Retry-After says", "headers": _RETRY_AFTER},
    500: {"model": ErrorPublic, "description": "a fault in sift (e.g. the database refused a statement): logged without "
                                               "the request's contents; please report it"},
    503: {"model": ErrorPublic, "description": "the database is unavailable (and, for a comment, the local outbox could not "
                                               "keep it) or the service is shutting down: try again after Retry-After",
          "headers": _RETRY_AFTER},
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that can answer ``codes`` (from :data:`ERRORS`)."""
    return {code: ERRORS[code] for code in codes}


# The one place a refused review step becomes an HTTP status.
REVIEW_STATUS: dict[type[ReviewError], int] = {ReviewNotFound: 404, ReviewConflict: 409, ReviewInvalid: 422}


def review_status(exc: ReviewError) -> int:
    return next((code for cls, code in REVIEW_STATUS.items() if isinstance(exc, cls)), 409)


def _field(loc: tuple) -> str:  # type: ignore[type-arg]
    parts = [str(p) for p in (loc[1:] if loc[:1] == ("body",) else loc)]  # a field called body inside stays
    return ".".join(parts) or "body"


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = []
    for err in exc.errors():
        message = err["msg"]
        if err["type"] == "json_invalid":
            position = err["loc"][-1] if len(err["loc"]) > 1 else "?"
            message = f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')} at character {position})"
            details.append({"field": "body", "message": message})
            continue
        elif err["type"] == "missing":
            message = "this field is required"
        elif err["type"] == "extra_forbidden":
            message = ("unknown field; allowed fields are text, channel, author_id, id, posted_at (and items for a batch)"
                       if request.url.path.startswith("/classify") else "unknown field; the API's schema (/docs) lists the allowed ones")
        details.append({"field": _field(tuple(err["loc"])), "message": message.removeprefix("Value error, ")})
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                        content={"error": "the request is not valid", "details": details})


async def invalid_text(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                        content={"error": "the request is not valid", "details": [{"field": "text", "message": str(exc)}]})


def _unreadable_body(exc: StarletteHTTPException) -> str | None:
    """What was wrong with a body FastAPI could not parse (it answers a bare 400 and keeps the cause)."""
    if exc.status_code != status.HTTP_400_BAD_REQUEST:
        return None
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not valid UTF-8 (byte {cause.start}); send JSON encoded as UTF-8"
    if isinstance(cause, RecursionError):
        return "the JSON is nested too deeply; a comment is a flat object of text, channel, author_id, id, posted_at"
    return None


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. Starlette's 405 names only the first route whose path matched,
    so a path served by two routes (a webhook's GET handshake and its POST events) would seem to allow one method."""
    routes = request.app.router.routes
    return ", ".join(method for method in _METHODS
                     if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    unreadable = _unreadable_body(exc)
    if unreadable:
        return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                            content={"error": "the request is not valid", "details": [{"field": "body", "message": unreadable}]})
    if 300 <= exc.status_code < 400 and "Location" in headers:
        return RedirectResponse(headers["Location"], status_code=exc.status_code)
    if request.url.path.startswith("/review") and "text/html" in request.headers.get("accept", ""):
        body = (f"<!doctype html><title>sift</title><main style='font-family:sans-serif;margin:2em'><h1>{exc.status_code}</h1>"
                f"<p role='alert'>{html.escape(str(exc.detail))}</p><p><a href='/review'>Back to the queue</a></p></main>")
        return HTMLResponse(body, status_code=exc.status_code, headers=headers)
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    if exc.status_code == status.HTTP_413_CONTENT_TOO_LARGE:  # streamed past FastAPI's max_body_size
        from api.limits import too_large

        return JSONResponse(too_large(), status_code=exc.status_code, headers=headers)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=headers)


async def review_refused(request: Request, exc: Exception) -> Response:
    """A review step the queue refused: its status from REVIEW_STATUS, its message as the error."""
    assert isinstance(exc, ReviewError)
    return await http_error(request, StarletteHTTPException(review_status(exc), str(exc)))


RETRY_AFTER_SECONDS = 5


async def storage_unavailable(request: Request, exc: Exception) -> Response:
    """The database failed in a way no outbox can absorb (a read of the review queue while it is down, an
    API key that cannot be checked): a JSON 503 with Retry-After, never a bare 500. The log line names the
    fault, never the statement's parameters or the exception's text."""
    if isinstance(exc, DBAPIError) and not is_unavailable(exc):  # the statement's fault: a bug, not an outage
        logger.error("a database statement failed on %s %s: %s", request.method, request.url.path,
                     type(exc.orig).__name__)
        return JSONResponse({"error": "the database refused the request; this is a bug in sift, please report it",
                             "details": []}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
    reason = str(exc) if isinstance(exc, NotStored) else fault_reason(exc)
    logger.warning("answered 503 to %s %s: %s", request.method, request.url.path, reason)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.url.path.startswith("/review") and "text/html" in request.headers.get("accept", ""):
        return await http_error(request, StarletteHTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"The database is unavailable ({reason}). Try again in a moment.",
            headers=headers))
    return JSONResponse({"error": "the database is unavailable; try again after Retry-After seconds",
                         "details": [{"field": "database", "message": reason}]},
                        status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers)


def install(app: FastAPI) -> None:
    for kind in (DBAPIError, PoolTimeout, NotStored):
        app.add_exception_handler(kind, storage_unavailable)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ReviewError, review_refused)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(InvalidTextError, invalid_text)
