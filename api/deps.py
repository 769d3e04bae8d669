"""Dependencies shared by the routes, as typed aliases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Annotated, TypeVar, cast

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.auth import WebSession, csrf_ok, read_session
from api.batcher import MicroBatcher
from api.metrics import Metrics
from api.storage import DurableStore
from api.writer import GroupWriter
from model.pipeline import Pipeline
from model.policy.engine import PolicyEngine
from service.comments import HistoryScope
from service.db.models import ApiKey
from service.db.offences import history_scope
from service.keys import KnownKeys
from service.settings import Settings

T = TypeVar("T")


def _state(name: str, kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency returning ``app.state.<name>``; ``async`` because FastAPI runs a plain ``def``
    dependency in the thread pool, a hop per dependency per request for nothing."""

    async def get(request: Request) -> T:
        return cast(T, getattr(request.app.state, name))

    get.__name__ = f"get_{name}"
    return get


# The app's parts, each one dependency that tests can override (app.dependency_overrides[get_writer] = ...).
get_app_settings = _state("settings", Settings)
get_pipeline = _state("pipeline", Pipeline)
get_policy = _state("policy", PolicyEngine)
get_batcher = _state("batcher", MicroBatcher)
get_writer = _state("writer", GroupWriter)
get_store = _state("store", DurableStore)
get_metrics = _state("metrics", Metrics)
get_author_secret = _state("author_secret", bytes)

SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
PolicyDep = Annotated[PolicyEngine, Depends(get_policy)]
BatcherDep = Annotated[MicroBatcher, Depends(get_batcher)]
WriterDep = Annotated[GroupWriter, Depends(get_writer)]
StoreDep = Annotated[DurableStore, Depends(get_store)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AuthorSecretDep = Annotated[bytes, Depends(get_author_secret)]


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_history(request: Request) -> HistoryScope:
    """The repeat-offender record in the service's database, opened for one decision step."""
    return history_scope(request.app.state.session_factory)


HistoryDep = Annotated[HistoryScope, Depends(get_history)]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="a key from `sift keys create`")
_bearer = HTTPBearer(auto_error=False, description="the same key as a bearer token")


def _require_scope(scope: str | None):  # type: ignore[no-untyped-def]
    """A key with ``scope`` (or admin) when keys are required; ``None``: any valid key."""

    async def check(request: Request, settings: SettingsDep,
                    header_key: Annotated[str | None, Security(_api_key_header)] = None,
                    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> ApiKey | None:
        return await _key_with_scope(request, settings, _sent_key(header_key, bearer), scope)

    return check


async def _key_with_scope(request: Request, settings: Settings, plain: str | None, scope: str | None,
                          how: str = "X-API-Key or Authorization: Bearer") -> ApiKey | None:
    """The key sent (``plain``), checked for ``scope``; ``None`` when none was sent and keys are not required."""
    if plain is None:
        if not settings.api_key_required:
            return None  # local default: bound to loopback, keys not required (announced at start-up)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"an API key is required: send it as {how} "
                            "(create one with `sift keys create`)", headers={"WWW-Authenticate": "Bearer"})
    return _checked_key(await run_in_threadpool(_lookup_key, request, plain), scope)  # the database, off the loop


def _sent_key(header_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    return header_key or (bearer.credentials if bearer else None)


def _lookup_key(request: Request, plain: str) -> ApiKey | None:
    """The key, checked in the database; through an outage, a key seen valid recently (service.keys)."""
    known: KnownKeys = request.app.state.known_keys
    return known.lookup(request.app.state.session_factory, plain)


def _checked_key(key: ApiKey | None, scope: str | None) -> ApiKey:
    """``key`` if it is valid and has ``scope`` (or admin; ``None``: any valid key), else the 401 or 403."""
    if key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the API key is not valid or has been revoked",
                            headers={"WWW-Authenticate": "Bearer"})
    scopes = key.scopes.split(",")
    if scope is not None and scope not in scopes and "admin" not in scopes:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this API key lacks the {scope!r} scope")
    return key


def client_address(request: Request) -> str:
    """The caller's address, as the per-address limits count it: the peer, or what a trusted proxy said in
    X-Forwarded-For (uvicorn's proxy headers, trusted from SIFT_FORWARDED_ALLOW_IPS only)."""
    return request.client.host if request.client else "unknown"


async def classify_caller(request: Request, key: Annotated[ApiKey | None, Depends(_require_scope("classify"))]) -> ApiKey | None:
    """The classify scope, then the request limits per client address and per key (429 with Retry-After)."""
    return await _within_classify_limits(request, key)


async def _within_classify_limits(request: Request, key: ApiKey | None) -> ApiKey | None:
    limits = request.app.state.rate_limits
    check = partial(limits.classify, key.id if key is not None else None, client_address(request))
    refused = check() if limits.requests_in_memory else await run_in_threadpool(check)  # Redis: off the loop
    if refused is not None:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, refused.message(),
                            headers={"Retry-After": str(refused.retry_after)})
    return key


ClassifyCallerDep = Annotated[ApiKey | None, Depends(classify_caller)]

# Perspective's clients send the key in the query string (``?key=``); service.logs hides it in every log line.
_query_key = APIKeyQuery(name="key", auto_error=False, description="a key from `sift keys create`, as Perspective's "
                         "clients send theirs (X-API-Key and Authorization: Bearer work too)")


async def perspective_caller(request: Request, settings: SettingsDep,
                             query_key: Annotated[str | None, Security(_query_key)] = None,
                             header_key: Annotated[str | None, Security(_api_key_header)] = None,
                             bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> ApiKey | None:
    """The Perspective-compatible door: the same classify scope and limits as ``/classify``, the key from ``?key=``
    or the usual headers."""
    key = await _key_with_scope(request, settings, query_key or _sent_key(header_key, bearer), "classify",
                                how="?key=, X-API-Key or Authorization: Bearer")
    return await _within_classify_limits(request, key)


PerspectiveCallerDep = Annotated[ApiKey | None, Depends(perspective_caller)]


async def signed_caller(request: Request) -> None:
    """For the doors whose callers sign their bodies instead of sending a key (Coral, Meta, X): the per-address
    request limit of /classify, counted before the body is read or its signature checked."""
    await _within_classify_limits(request, None)


SignedCallerScope = Depends(signed_caller)
# /metrics and the API docs: open on loopback without keys, else a key with the scope (any valid key for the docs).
MetricsScope = Depends(_require_scope("metrics"))
DocsScope = Depends(_require_scope(None))


async def sees_details(request: Request, settings: SettingsDep,
                       header_key: Annotated[str | None, Security(_api_key_header)] = None,
                       bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> bool:
    """Whether the caller may see the service's inner state (``/readyz``'s components): always when keys
    are not required (loopback), else only with an admin key. Never an error: a load balancer without a
    key, or with one while the database is down, still gets the public answer."""
    if not settings.api_key_required:
        return True
    plain = _sent_key(header_key, bearer)
    if plain is None:
        return False
    try:
        key = await run_in_threadpool(_lookup_key, request, plain)
    except Exception:  # noqa: BLE001 - the database is down: the key cannot be checked, so no details
        return False
    return key is not None and "admin" in key.scopes.split(",")


DetailsDep = Annotated[bool, Depends(sees_details)]


def get_web_session(request: Request, session: SessionDep) -> WebSession | None:
    """The signed-in moderator, if the cookie names a live server-side session of an active account (looked
    up on every request, so sign-out, a password change or a disabled account end it at once)."""
    return read_session(request, session)


WebSessionDep = Annotated[WebSession | None, Depends(get_web_session)]


def require_moderator_page(web: WebSessionDep) -> WebSession:
    """For the review pages: a signed-out visitor is sent to the sign-in page and sees nothing else."""
    if web is None:
        raise HTTPException(status.HTTP_303_SEE_OTHER, "sign in first", headers={"Location": "/review/login"})
    return web


ModeratorPageDep = Annotated[WebSession, Depends(require_moderator_page)]


def require_reviewer(request: Request, web: WebSessionDep,
                     header_key: Annotated[str | None, Security(_api_key_header)] = None,
                     bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> str:
    """For the review JSON API: an API key with the review scope, or a signed-in moderator (with the CSRF
    header on anything that changes state). Required even on loopback: the items hold personal data."""
    plain = _sent_key(header_key, bearer)
    if plain is not None:
        return f"key:{_checked_key(_lookup_key(request, plain), 'review').name}"
    if web is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in as a moderator or send an API key with the review scope",
                            headers={"WWW-Authenticate": "Bearer"})
    if request.method not in {"GET", "HEAD", "OPTIONS"} and not csrf_ok(web, request.headers.get("X-CSRF-Token")):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong X-CSRF-Token header")
    return web.username


ReviewerDep = Annotated[str, Depends(require_reviewer)]
