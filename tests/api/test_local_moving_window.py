"""The worker-memory request limiter answers exactly as ``limits``' moving window over its MemoryStorage, with
no thread of its own."""

from __future__ import annotations

import random
import threading
import time

import pytest
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api.ratelimit import LocalMovingWindow


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


@pytest.mark.parametrize("spec", ["5/second", "3/minute", "1/second"])
def test_it_allows_refuses_and_resets_as_the_library_does(clock: list[float], spec: str) -> None:
    item, rng = parse(spec), random.Random(7)
    ours, theirs = LocalMovingWindow(sweep_every=5), MovingWindowRateLimiter(MemoryStorage())
    refused = 0
    for step in range(2_000):
        caller = rng.choice(["a", "b", "c"])
        allowed = ours.hit(item, "classify-ip", caller)
        assert allowed == theirs.hit(item, "classify-ip", caller), step
        refused += not allowed
        mine, lib = ours.get_window_stats(item, "classify-ip", caller), theirs.get_window_stats(item, "classify-ip", caller)
        assert (mine.remaining, mine.reset_time) == (lib.remaining, lib.reset_time), step
        if rng.random() < 0.02:
            ours.clear(item, "classify-ip", caller)
            theirs.clear(item, "classify-ip", caller)
        clock[0] += rng.choice([0.0, rng.uniform(0, 0.05), rng.uniform(0, item.get_expiry() / 2), rng.uniform(0, 2 * item.get_expiry())])
    assert 0 < refused < 2_000  # both sides of the limit were reached


def test_a_hit_exactly_one_window_old_still_counts_as_in_the_library(clock: list[float]) -> None:
    item = parse("1/second")
    ours, theirs = LocalMovingWindow(), MovingWindowRateLimiter(MemoryStorage())
    assert ours.hit(item, "k") and theirs.hit(item, "k")
    clock[0] += 1.0
    assert not ours.hit(item, "k") and not theirs.hit(item, "k")
    clock[0] += 1e-6
    assert ours.hit(item, "k") and theirs.hit(item, "k")


def test_it_starts_no_thread_and_forgets_idle_callers(clock: list[float]) -> None:
    item, limiter = parse("2/second"), LocalMovingWindow(sweep_every=10)
    threads = threading.active_count()
    for n in range(50):
        assert limiter.hit(item, "classify-ip", f"caller-{n}")
    assert threading.active_count() == threads
    clock[0] += 2
    for _ in range(10):
        limiter.hit(item, "classify-ip", "still-here")
    assert list(limiter._hits) == [item.key_for("classify-ip", "still-here")]
