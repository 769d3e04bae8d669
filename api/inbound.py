"""A platform's payload in: read by its adapter, replays recognised, the rest decided by :mod:`api.decider`.

Every platform door (``/webhooks/meta``, ``/webhooks/x``, ``/webhooks/youtube`` and the YouTube poller) calls
:func:`ingest` with what its adapter read. Per event: claimed in ``inbound_events`` (a replay, or the same
comment polled again, is "already seen" and decided nothing), decided and stored with a record id derived from
the platform's ids, then marked decided. What the adapter could not read is kept, with the raw body, in
``webhook_unknown`` for an admin; the caller answers 422 saying what was expected.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.decider import Decider, Outcome
from service.db import inbound
from service.db.session import is_unavailable
from service.platforms import Inbound, Parsed, Platform, Problem

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Ingested:
    platform: Platform
    decided: list[tuple[Inbound, Outcome]] = field(default_factory=list)
    seen: list[Inbound] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    unknown: list[Problem] = field(default_factory=list)
    kept: str | None = None  # the id of the kept payload, when part of it was unknown


def decode(body: bytes, parse: Callable[[Any], Parsed]) -> Parsed:
    """The body as JSON, read by ``parse``; a body that is not JSON is one problem (kept like any other)."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        parsed = Parsed()
        parsed.problem("body", f"expected JSON (UTF-8): {type(exc).__name__}"
                               + (f" at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""))
        return parsed
    return parse(payload)


def reason(problems: list[Problem]) -> str:
    return "; ".join(f"{p.where}: {p.message}" for p in problems)


async def keep(sessions: sessionmaker[Session], platform: Platform, body: bytes, problems: list[Problem],
               content_type: str | None) -> str:
    """Keep ``body`` as received, with what could not be read in it."""
    with sessions() as session:
        kept, times = await run_in_threadpool(inbound.keep_unknown, session, platform, body, reason(problems), content_type)
    # Counts only: the problems name the payload's own keys and values. Once loudly; a retry (or the same poll) quietly.
    logger.log(logging.WARNING if times == 1 else logging.DEBUG, "kept a %s payload sift could not read (%d bytes, %d "
               "unreadable parts, received %d times) as %s", platform, len(body), len(problems), times, kept)
    return kept


async def ingest(platform: Platform, parsed: Parsed, decider: Decider, sessions: sessionmaker[Session], *,
                 body: bytes, content_type: str | None) -> Ingested:
    out = Ingested(platform, ignored=list(parsed.ignored), unknown=list(parsed.unknown))
    items = list({item.key: item for item in parsed.items}.values())  # the same comment twice in one payload: once
    token = str(uuid.uuid4())
    events = [inbound.Event(item.key, item.submission.id or "") for item in items]
    with sessions() as session:
        states = await run_in_threadpool(inbound.claim, session, platform, events, token)
    mine = [item for item in items if states.get(item.key) == "mine"]
    out.seen = [item for item in items if states.get(item.key) != "mine"]
    keys = [item.key for item in mine]
    if mine:
        try:
            outcomes = await decider.run([item.submission for item in mine],
                                         record_ids=[inbound.record_id(platform, key) for key in keys])
        except BaseException:
            await _release(sessions, platform, keys, token)
            raise
        out.decided = list(zip(mine, outcomes, strict=True))
        await _mark(sessions, platform, keys, token)
    if out.unknown:
        out.kept = await keep(sessions, platform, body, out.unknown, content_type)
    level = logging.INFO if out.decided or out.unknown else logging.DEBUG  # a poll that found nothing new is quiet
    logger.log(level, "%s: %d decided, %d already seen, %d ignored, %d unreadable", platform, len(out.decided),
               len(out.seen), len(out.ignored), len(out.unknown))
    return out


async def _release(sessions: sessionmaker[Session], platform: str, keys: list[str], token: str) -> None:
    try:
        with sessions() as session:
            await run_in_threadpool(partial(inbound.release, session, platform, keys, token))
    except Exception as exc:  # noqa: BLE001 - the claim goes stale and the platform's retry takes it over
        logger.warning("could not release %d %s claims (%s); a retry takes them over after %d s", len(keys), platform,
                       type(exc).__name__, inbound.CLAIM_STALE_SECONDS)


async def _mark(sessions: sessionmaker[Session], platform: str, keys: list[str], token: str) -> None:
    """The comments are stored (committed, or in the outbox while the database is away); a database that cannot
    take the mark now leaves the claims to go stale, and the record ids keep a later copy from being stored twice."""
    try:
        with sessions() as session:
            await run_in_threadpool(partial(inbound.mark_decided, session, platform, keys, token))
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        logger.warning("%d %s events are decided but not marked (%s)", len(keys), platform, type(exc).__name__)
