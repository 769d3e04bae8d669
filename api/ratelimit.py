"""Rate limits, with the ``limits`` library: requests to /classify per API key and per client address, and
sign-in attempts per username and per client address (the lockout).

Where the counters live:

- ``SIFT_REDIS_URL`` set: every limit in Redis, shared by all workers and servers.
- otherwise: sign-in counters in the service's database (:class:`service.db.ratelimit.DatabaseStorage`,
  shared by all workers, and kept across a restart), request counters in each worker's memory (with
  ``--workers N`` a caller may get up to N times the request limit; set Redis to share them). Those
  are :class:`LocalMovingWindow`: ``limits``' own MemoryStorage starts a timer thread to expire its
  entries every 10 ms of traffic, which on the request path competed with the model for the GIL.

Request limits use a moving window: exact, at most N in any span of the window (the sliding window
counter's estimate let 3,050 requests through a 3,000-a-minute limit in 46 s, across a window boundary).
Sign-in limits use a fixed window, so a locked-out username is refused, right password or not, until its
window ends, and ``Retry-After`` says when that is. A sign-in that succeeds starts its username's count
again. Usernames and addresses reach the storage only as keyed hashes. If the storage fails (Redis
down), the limits fall back to this worker's memory and say so in the
log: limits still hold, per worker, rather than none at all.

Example::

    limits = RateLimits.from_settings(settings, session_factory, secret)
    refused = limits.signin_attempt("maria", "203.0.113.9")   # None, or a Refusal with retry_after
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections import deque
from dataclasses import dataclass

from limits import RateLimitItem, WindowStats, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from sqlalchemy.orm import Session, sessionmaker

from service.db.ratelimit import DatabaseStorage
from service.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """A refused request: which limit, and whole seconds until it may be tried again (for ``Retry-After``)."""

    limit: str  # e.g. "at most 5 sign-in attempts per username every 15 minutes"
    retry_after: int

    def message(self) -> str:
        return f"too many requests: {self.limit}; try again in {self.retry_after} s"


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


class LocalMovingWindow:
    """A moving-window limiter in this worker's memory, with no thread: a deque of hit times per key,
    trimmed to the window on each look. The same answers as ``MovingWindowRateLimiter(MemoryStorage())``
    for the three calls a limit makes (``hit``, ``get_window_stats``, ``clear``).

    Keys idle for a whole window are dropped every ``sweep_every`` hits, so memory stays bounded by the
    callers of the last window."""

    def __init__(self, sweep_every: int = 10_000) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._sweep_every, self._since_sweep = sweep_every, 0
        self._longest = 0.0  # the longest window seen: a key idle for longer holds nothing any limit counts

    def _live(self, key: str, window: float, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] < now - window:  # a hit exactly one window old still counts, as in ``limits``
            hits.popleft()
        return hits

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        now, window = time.time(), float(item.get_expiry())
        self._longest = max(self._longest, window)
        self._since_sweep += 1
        if self._since_sweep >= self._sweep_every:
            self._sweep(now)
        hits = self._live(item.key_for(*identifiers), window, now)
        if len(hits) + cost > item.amount:
            return False
        hits.extend([now] * cost)
        return True

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        now, window = time.time(), float(item.get_expiry())
        hits = self._live(item.key_for(*identifiers), window, now)
        return WindowStats((hits[0] if hits else now) + window, max(0, item.amount - len(hits)))

    def clear(self, item: RateLimitItem, *identifiers: str) -> None:
        self._hits.pop(item.key_for(*identifiers), None)

    def _sweep(self, now: float) -> None:
        self._since_sweep = 0
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] < now - self._longest]:
            del self._hits[key]


class _Limit:
    """One limit (``None`` when turned off) on one strategy, with this worker's memory as the fallback."""

    def __init__(self, name: str, what: str, spec: str, limiter: RateLimiter | LocalMovingWindow,
                 fallback: RateLimiter | LocalMovingWindow) -> None:
        self.name, self.what, self.item = name, what, (parse(spec) if spec else None)
        self._limiter, self._fallback = limiter, fallback
        self._warned = 0.0

    def _run(self, op: str, *ids: str) -> tuple[bool, RateLimiter | LocalMovingWindow]:
        assert self.item is not None
        for limiter in (self._limiter, self._fallback):
            try:
                return bool(getattr(limiter, op)(self.item, self.name, *ids)), limiter
            except StorageError as exc:
                if time.monotonic() - self._warned > 60:  # once a minute, not once a request
                    logger.warning("rate-limit storage failed (%s); limit %s counts in this worker only",
                                   type(exc.storage_error).__name__, self.name)
                    self._warned = time.monotonic()
        raise AssertionError("the memory fallback does not fail")  # pragma: no cover

    def hit(self, *ids: str) -> Refusal | None:
        if self.item is None:
            return None
        allowed, limiter = self._run("hit", *ids)
        if allowed:
            return None
        reset = limiter.get_window_stats(self.item, self.name, *ids).reset_time
        limit = f"at most {self.item.amount} {self.what} every {_window(self.item)}"
        return Refusal(limit, max(1, math.ceil(reset - time.time())))

    def clear(self, *ids: str) -> None:
        if self.item is not None:
            self._run("clear", *ids)


class RateLimits:
    """The service's four limits, over one storage for requests and one for sign-in."""

    def __init__(self, settings: Settings, requests: Storage | None, signin: Storage, secret: bytes) -> None:
        """``requests=None``: request counters in this worker's memory (:class:`LocalMovingWindow`)."""
        self.shared = bool(settings.redis_url)
        self.requests_in_memory = requests is None  # then a request check is a dictionary look-up, on the loop
        moving_memory: RateLimiter | LocalMovingWindow = LocalMovingWindow()
        moving = moving_memory if requests is None else MovingWindowRateLimiter(requests)
        fixed, fixed_memory = FixedWindowRateLimiter(signin), FixedWindowRateLimiter(MemoryStorage())
        self.classify_key = _Limit("classify-key", "requests per API key", settings.classify_key_limit, moving, moving_memory)
        self.classify_ip = _Limit("classify-ip", "requests per client address", settings.classify_ip_limit, moving,
                                  moving_memory)
        self.signin_user = _Limit("signin-user", "sign-in attempts per username", settings.signin_user_limit, fixed,
                                  fixed_memory)
        self.signin_ip = _Limit("signin-ip", "sign-in attempts per client address", settings.signin_ip_limit, fixed,
                                fixed_memory)
        self._key = hmac.new(secret, b"sift-rate-limits", hashlib.sha256).digest()

    @classmethod
    def from_settings(cls, settings: Settings, session_factory: sessionmaker[Session], secret: bytes) -> RateLimits:
        if settings.redis_url:
            shared = storage_from_string(settings.redis_url, wrap_exceptions=True)
            assert isinstance(shared, Storage)
            return cls(settings, shared, shared, secret)
        return cls(settings, None, DatabaseStorage(session_factory), secret)

    def _id(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def _user(username: str) -> str:
        return username.strip().casefold()

    def classify(self, key_id: str | None, address: str) -> Refusal | None:
        """Count one request to /classify; the refusal of the first limit it is over, if any."""
        refused = self.classify_ip.hit(self._id(address))
        if refused is None and key_id is not None:
            refused = self.classify_key.hit(self._id(key_id))
        return refused

    def signin_attempt(self, username: str, address: str) -> Refusal | None:
        """Count one sign-in attempt, before the password is checked (so a refused one costs no hashing)."""
        return self.signin_ip.hit(self._id(address)) or self.signin_user.hit(self._id(self._user(username)))

    def signin_succeeded(self, username: str) -> None:
        """The password was right: the username's count starts again (the address's does not)."""
        self.signin_user.clear(self._id(self._user(username)))
