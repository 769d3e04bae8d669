"""Events out, in the running service: the delivery worker and the deadline check (see :mod:`service.events`).

Both run as tasks in each worker process's lifespan, only when an events file names subscribers:

- the **sender** claims due deliveries (:func:`service.db.deliveries.claim`, safe with any number of workers),
  POSTs each, signed, with ``httpx.AsyncClient``, and records the outcome. A 2xx is delivered; anything else
  (a refused connection, a time-out, a 3xx, a 5xx) is tried again after a backoff that doubles from
  ``SIFT_EVENTS_RETRY_FIRST_SECONDS`` up to ``SIFT_EVENTS_RETRY_MAX_SECONDS`` (longer when the subscriber
  says ``Retry-After``), with a little jitter; after ``SIFT_EVENTS_ATTEMPTS`` attempts, or at once on
  ``410 Gone`` (the subscriber asks for no more), the delivery is a dead letter that ``sift events replay``
  sends again.
- the **deadline check** runs every ``SIFT_EVENTS_SLA_CHECK_SECONDS``: :func:`service.events.check_deadlines`
  on ``clock()`` (a test sets a fake clock), then forgets delivered events older than the retention period.

Log lines name the subscriber, the event type and id, and the error's kind: never the URL (it may hold a
token), a payload or a signature.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from service.db.deliveries import Claimed, claim, prune, settle
from service.db.models import utcnow
from service.db.session import fault_reason, is_unavailable
from service.events import SESSION_KEY, Subscribers, body_of, check_deadlines, signed_headers
from service.settings import Settings

logger = logging.getLogger(__name__)

CLAIM_BATCH = 32  # deliveries one worker claims at once
PER_SUBSCRIBER = 8  # of those, requests in flight to one subscriber at a time
JITTER = 0.1  # each wait is shortened by up to this fraction, so retries from many events do not arrive together


@dataclass(frozen=True)
class Backoff:
    attempts: int
    first: float
    most: float

    def wait(self, failures: int, retry_after: float | None = None) -> float | None:
        """Seconds until the next attempt after ``failures`` failed ones; None when that was the last."""
        if failures >= self.attempts:
            return None
        wait = min(self.first * 2 ** (failures - 1), self.most) * (1 - JITTER * random.random())
        return max(wait, min(retry_after, self.most)) if retry_after else wait


def _retry_after(answer: httpx.Response) -> float | None:
    try:
        return float(answer.headers["retry-after"])
    except (KeyError, ValueError):
        return None  # absent, or an HTTP date: the backoff decides


class EventsOut:
    """The sender and the deadline check of one worker process."""

    def __init__(self, sessions: sessionmaker[Session], subscribers: Subscribers, settings: Settings, *,
                 clock: Callable[[], datetime] = utcnow, transport: httpx.AsyncBaseTransport | None = None):
        self.sessions = sessions
        self.subscribers = subscribers
        self.clock = clock  # the deadline check's "now"; deliveries always run on the real clock
        self.backoff = Backoff(settings.events_attempts, settings.events_retry_first_seconds,
                               settings.events_retry_max_seconds)
        self.timeout = settings.events_timeout_seconds
        self.poll = settings.events_poll_seconds
        self.sla_every = settings.events_sla_check_seconds
        self.warning = timedelta(minutes=settings.events_sla_warning_minutes)
        self.keep = timedelta(days=settings.retention_days)
        self.lease = timedelta(seconds=2 * self.timeout + 30)  # a claim outlives the slowest attempt
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, transport=transport,
                                         headers={"user-agent": "sift-events"})
        self._tasks: list[asyncio.Task[None]] = []
        self._fault: str | None = None
        self._failing: set[str] = set()  # subscribers whose last attempt failed
        self._slots = {spec.name: asyncio.Semaphore(PER_SUBSCRIBER) for spec in subscribers.specs}

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._deadline_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        await self._client.aclose()

    # --- sending ---

    async def _send_loop(self) -> None:
        while True:
            sent = await self.send_due()
            if not sent:
                await asyncio.sleep(self.poll)

    async def send_due(self) -> int:
        """Claim what is due and send it; how many attempts were made. A database fault is logged (once) and
        waited out: what was claimed and not settled is sent again when its lease ends."""
        try:
            claimed = await run_in_threadpool(self._claim)
            if not claimed:
                return 0
            outcomes = await asyncio.gather(*(self._attempt(c) for c in claimed))
            await run_in_threadpool(self._settle, list(zip(claimed, outcomes, strict=True)))
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            reason = fault_reason(exc)
            if reason != self._fault:
                logger.warning("events: the database is unavailable (%s); deliveries wait", reason)
            self._fault = reason
            return 0
        if self._fault:
            logger.info("events: the database is back; deliveries go on")
            self._fault = None
        return len(claimed)

    def _claim(self) -> list[Claimed]:
        with self.sessions() as session:
            return claim(session, now=utcnow(), limit=CLAIM_BATCH, lease=self.lease)

    async def _attempt(self, claimed: Claimed) -> tuple[bool, str | None, float | None]:
        """(delivered, error, seconds the subscriber asked us to wait); a 410 comes back as -1 (no more tries)."""
        spec = self.subscribers.get(claimed.subscriber)
        secret = self.subscribers.secrets.get(claimed.subscriber)
        if spec is None or secret is None:
            return False, "the subscriber is no longer in the events file", -1
        body = body_of(claimed.payload)
        try:
            async with self._slots[spec.name]:  # signed as it goes out: the timestamp is the attempt's
                answer = await self._client.post(spec.url, content=body,
                                                 headers=signed_headers(secret, claimed.event_id, body))
        except httpx.HTTPError as exc:
            return False, type(exc).__name__, None
        if 200 <= answer.status_code < 300:
            return True, None, None
        return False, f"HTTP {answer.status_code}", -1 if answer.status_code == 410 else _retry_after(answer)

    def _settle(self, results: list[tuple[Claimed, tuple[bool, str | None, float | None]]]) -> None:
        now = utcnow()
        with self.sessions() as session:
            for claimed, (delivered, error, asked) in results:
                failures = claimed.attempts + 1
                wait = None if delivered or asked == -1 else self.backoff.wait(failures, asked)
                retry_at = now + timedelta(seconds=wait) if wait is not None else None
                settle(session, claimed, delivered=delivered, error=error, now=now, retry_at=retry_at)
                self._note(claimed.subscriber, delivered, error)
                if delivered:
                    logger.debug("events: %s %s delivered to %s", claimed.type, claimed.event_id, claimed.subscriber)
                elif retry_at is None:
                    logger.warning("events: %s %s to %s is a dead letter after %d attempts (%s); `sift events replay %s` "
                                   "sends it again", claimed.type, claimed.event_id, claimed.subscriber, failures, error,
                                   claimed.event_id)
                else:
                    logger.debug("events: %s %s to %s failed (%s); attempt %d in %.1f s", claimed.type, claimed.event_id,
                                 claimed.subscriber, error, failures + 1, wait)
            session.commit()

    def _note(self, subscriber: str, delivered: bool, error: str | None) -> None:
        """One line when a subscriber starts failing and one when it takes events again, not one per attempt."""
        if not delivered and subscriber not in self._failing:
            self._failing.add(subscriber)
            logger.warning("events: subscriber %s is not taking events (%s); retrying with backoff", subscriber, error)
        elif delivered and subscriber in self._failing:
            self._failing.discard(subscriber)
            logger.info("events: subscriber %s takes events again", subscriber)

    # --- deadlines ---

    async def _deadline_loop(self) -> None:
        while True:
            try:
                await run_in_threadpool(self.check_deadlines)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                logger.warning("events: the deadline check could not run (%s); it runs again in %g s",
                               fault_reason(exc), self.sla_every)
            await asyncio.sleep(self.sla_every)

    def check_deadlines(self) -> dict[str, int]:
        now = self.clock()
        with self.sessions() as session:
            fired = check_deadlines(session, self.subscribers, now=now, warning=self.warning)
            pruned = prune(session, older_than=utcnow() - self.keep)
        for kind, count in fired.items():
            if count:
                logger.info("events: %s fired for %d deliveries", kind, count)
        if pruned:
            logger.info("events: forgot %d delivered events older than %s", pruned, self.keep)
        return fired


def prepare(sessions: sessionmaker[Session], settings: Settings) -> EventsOut | None:
    """Load the events file the settings name (the service refuses to start, saying why, when it or a secret is
    invalid) and make ``sessions`` write events for its subscribers; :meth:`EventsOut.start` then sends them.
    None without a file."""
    if settings.events_file is None:
        return None
    subscribers = Subscribers.load(settings.events_file).with_secrets()
    sessions.configure(info={SESSION_KEY: subscribers})
    out = EventsOut(sessions, subscribers, settings)
    logger.info("events: %d subscribers (%s)", len(subscribers.specs), "; ".join(
        f"{s.name}: {' '.join(s.events)}" for s in subscribers.specs))
    return out
